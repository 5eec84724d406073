#!/usr/bin/env bash
# Installs the OCI runtime that `make image-test` runs kooper's images with:
# Debian's runc package (these machines have no Docker engine, and nothing
# may be downloaded but Debian packages and Go modules). Idempotent: an
# installed runc is left alone. Needs root and apt, as CI has.
#
# Usage: hack/install-runtime.sh
set -euo pipefail

log() { printf '[install-runtime %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

if command -v runc >/dev/null 2>&1; then
  log "runc already installed: $(runc --version | head -1)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "runc is missing and installing it needs root: run 'sudo $0' (or 'apt-get install runc')" >&2
  exit 1
fi
log "installing Debian's runc package"
export DEBIAN_FRONTEND=noninteractive
# A stale package list fails the install with 404s; refresh it first.
apt-get update -qq
apt-get install -y -qq --no-install-recommends runc >/dev/null
log "installed: $(runc --version | head -1)"
