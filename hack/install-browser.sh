#!/usr/bin/env bash
# Installs what the kit SSO browser test (TestKitSSOInARealBrowser in
# hack/marketplace-sim) drives: headless Chromium, Debian's chromium
# package at /usr/bin/chromium (these machines may download nothing but
# Debian packages and Go modules). Idempotent, and quick when it is there:
# `make test` runs it first. A fresh install takes some 80 seconds.
#
# Installing needs root and apt. Without root it says what is missing and
# exits 0, and the test skips, saying why; where $KOOPER_REQUIRE_BROWSER is
# 1 (.ci/run sets it) it fails instead, because CI must run the browser.
#
# Usage: hack/install-browser.sh
set -euo pipefail

log() { printf '[install-browser %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

chromium=/usr/bin/chromium
if [ -x "$chromium" ]; then
  log "$("$chromium" --version 2>/dev/null || echo chromium) is installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  msg="missing $chromium; installing needs root and apt: run 'sudo $0' (or 'apt-get install chromium')"
  if [ "${KOOPER_REQUIRE_BROWSER:-}" = 1 ]; then
    echo "$msg" >&2
    exit 1
  fi
  log "$msg; the kit SSO browser test will skip"
  exit 0
fi
log "installing Debian's chromium"
export DEBIAN_FRONTEND=noninteractive
start=$(date +%s)
# A stale package list fails the install with 404s; refresh it first.
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
if [ ! -x "$chromium" ]; then
  echo "still no $chromium after installing chromium" >&2
  exit 1
fi
log "installed $("$chromium" --version 2>/dev/null || echo chromium) in $(($(date +%s) - start))s"
