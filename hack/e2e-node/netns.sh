#!/usr/bin/env bash
# Runs COMMAND inside a network namespace of its own, NAME, made for the
# real-node lane (make e2e-node): loopback up, the pods' bridge with the
# node's address, forwarding and bridge netfilter on. kube-proxy's and
# kube-router's iptables rules, ipsets and sysctls, the bridge and every
# port the lane listens on stay in it, apart from the machine's own and from
# any other lane's; the namespace is deleted when COMMAND ends.
#
# Usage: hack/e2e-node/netns.sh NAME COMMAND [ARG...]
#   KOOPER_NODE_BRIDGE (default kooper0), KOOPER_NODE_IP (default 10.244.0.1):
#   the bridge and the node's address (a /24 of the cluster's pod range).
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 NAME COMMAND [ARG...]" >&2
  exit 2
fi
name=$1
shift
bridge=${KOOPER_NODE_BRIDGE:-kooper0}
ip=${KOOPER_NODE_IP:-10.244.0.1}

if [ "$(id -u)" -ne 0 ]; then
  echo "the real-node lane needs root (network namespaces, cgroups, mounts)" >&2
  exit 1
fi
ip netns del "$name" 2>/dev/null || true
ip netns add "$name"
trap 'ip netns del "$name" 2>/dev/null || true' EXIT
ip netns exec "$name" sh -ec "
  ip link set lo up
  ip link add $bridge type bridge
  ip addr add $ip/24 dev $bridge
  ip link set $bridge up
  # The Services' ClusterIPs (localcluster.ServiceCIDR), reached from the
  # namespace itself too: kube-proxy rewrites them once a route chose the bridge.
  ip route add 10.96.0.0/16 dev $bridge
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1
"
# Not `ip netns exec` for the lane itself: it remounts /sys, which hides the
# machine's cgroup v1 hierarchies from the kubelet. nsenter switches only the
# network namespace; unshare gives the lane a mount namespace of its own (the
# kubelet's and containerd's mounts stay in it and go with it), slave to the
# machine's.
rc=0
export KOOPER_NODE_NETNS=$name
nsenter --net="/run/netns/$name" unshare --mount --propagation slave -- "$@" || rc=$?
exit $rc
