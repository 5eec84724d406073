#!/usr/bin/env bash
# Installs the OCI runtime that `make image-test` runs kooper's images with:
# Debian's runc package (these machines have no Docker engine, and nothing
# may be downloaded but Debian packages and Go modules). Idempotent: an
# installed package is left alone. Needs root and apt, as CI has.
#
# With --node, also what the real-node lane (make e2e-node) runs beside the
# binaries hack/build-tools.sh builds (kubelet, kube-proxy, containerd 2,
# kube-router): Debian's CNI plugins (bridge, host-local, loopback, portmap
# in /usr/lib/cni), iptables and ipset (kube-proxy's and kube-router's
# rules), iproute2 (the lane's network namespace) and containerd (1.6, which
# the lane runs instead of containerd 2 with E2E_NODE_CONTAINERD=debian; no
# service is started: the lane starts its own).
#
# Usage: hack/install-runtime.sh [--node]
set -euo pipefail

log() { printf '[install-runtime %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

packages=(runc)
# Each package's check: a file it installs.
declare -A provides=([runc]=/usr/sbin/runc [containernetworking-plugins]=/usr/lib/cni/bridge
  [iptables]=/usr/sbin/iptables [ipset]=/usr/sbin/ipset [iproute2]=/usr/sbin/ip [containerd]=/usr/bin/containerd)
if [ "${1:-}" = "--node" ]; then
  packages+=(containernetworking-plugins iptables ipset iproute2 containerd)
elif [ $# -gt 0 ]; then
  echo "usage: $0 [--node]" >&2
  exit 2
fi

missing=()
for p in "${packages[@]}"; do
  [ -e "${provides[$p]}" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  log "already installed: ${packages[*]} ($(runc --version | head -1))"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "${missing[*]} missing and installing needs root: run 'sudo $0 $*' (or 'apt-get install ${missing[*]}')" >&2
  exit 1
fi
log "installing Debian's ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# A stale package list fails the install with 404s; refresh it first.
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
log "installed: ${missing[*]} ($(runc --version | head -1))"
