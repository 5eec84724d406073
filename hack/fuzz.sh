#!/usr/bin/env bash
# Runs every `func Fuzz...` target of the module for a short time each.
# Usage: hack/fuzz.sh [duration]   (default 10s per target)
#
# A target in a package whose TestMain starts a control plane (envtest:
# webhook, controllers...) runs its seed corpus only, as `go test` does:
# every fuzz worker is a process of its own that would start its own
# kube-apiserver and etcd, and the fuzz engine kills a worker that does not
# stop at once, leaving them running, and go test waiting on their output.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}

# control_plane_packages lists the directories whose TestMain starts envtest.
control_plane_packages() {
  git ls-files --cached --others --exclude-standard '*_test.go' | xargs -r grep -l '^func TestMain' |
    xargs -r grep -l -E 'testenv\.|envtest\.' | xargs -r -n1 dirname | sort -u
}
mapfile -t seeds_only < <(control_plane_packages)

found=0
while IFS=: read -r file line; do
  dir=./$(dirname "$file")
  name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")
  found=$((found + 1))
  if printf '%s\n' "${seeds_only[@]}" | grep -qxF "$(dirname "$file")"; then
    echo "== $name in $dir (seed corpus only: its package starts a control plane)"
    go test -count=1 -run="^${name}\$" "$dir"
    continue
  fi
  echo "== $name in $dir ($fuzztime)"
  go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "$dir"
done < <(git ls-files --cached --others --exclude-standard '*_test.go' | xargs -r grep -H -E '^func Fuzz[A-Za-z0-9_]*\(' || true)

if [ "$found" -eq 0 ]; then
  echo "No fuzz targets yet."
fi
