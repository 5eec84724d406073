#!/usr/bin/env bash
# Installs what the cross-language licence-key test (hack/licence-verifiers)
# runs: a JDK 15 or later (java and javac; Ed25519 is the JDK's own) and
# Python 3 with the cryptography package, from Debian's default-jdk-headless
# and python3-cryptography (these machines may download nothing but Debian
# packages and Go modules). Idempotent, and quick when both are there:
# `make test` runs it first.
#
# Installing needs root and apt. Without root, outside CI, it says what is
# missing and exits 0, and the test skips, saying why; where $CI is set it
# fails instead, because CI must run every verifier.
#
# Usage: hack/install-licence-verifiers.sh
set -euo pipefail

log() { printf '[install-licence-verifiers %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# jdk_ok: java and javac of release 15 or later ("javac 17.0.15"; a JDK 8
# says "javac 1.8.0_...", major 1).
jdk_ok() {
  if ! command -v java >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
    return 1
  fi
  local major
  major=$(javac -version 2>&1 | awk '{print $2}' | cut -d. -f1)
  [[ "$major" =~ ^[0-9]+$ ]] && [ "$major" -ge 15 ]
}

# python_ok: the test's Python, Debian's /usr/bin/python3 or else the first
# python3 on PATH (pyenv's, say), imports cryptography.
python_ok() {
  local python
  for python in /usr/bin/python3 python3; do
    "$python" -c 'import cryptography' >/dev/null 2>&1 && return 0
  done
  return 1
}

packages=()
jdk_ok || packages+=(default-jdk-headless)
python_ok || packages+=(python3-cryptography)
if [ "${#packages[@]}" -eq 0 ]; then
  log "a JDK ($(javac -version 2>&1)) and Python's cryptography are installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  msg="missing ${packages[*]}; installing needs root and apt: run 'sudo $0' (or 'apt-get install ${packages[*]}')"
  if [ -n "${CI:-}" ]; then
    echo "$msg" >&2
    exit 1
  fi
  log "$msg; the cross-language licence-key test will skip"
  exit 0
fi
log "installing Debian's ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
# A stale package list fails the install with 404s; refresh it first.
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
if ! jdk_ok || ! python_ok; then
  echo "still missing a JDK 15 or later or Python's cryptography after installing ${packages[*]}" >&2
  exit 1
fi
log "installed ${packages[*]}"
