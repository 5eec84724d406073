#!/usr/bin/env bash
# Runs every `func Fuzz...` target of the module for a short time each.
# Usage: hack/fuzz.sh [duration]   (default 10s per target)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}

found=0
while IFS=: read -r file line; do
  dir=./$(dirname "$file")
  name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")
  found=$((found + 1))
  echo "== $name in $dir ($fuzztime)"
  go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "$dir"
done < <(git ls-files '*_test.go' | xargs -r grep -H -E '^func Fuzz[A-Za-z0-9_]*\(' || true)

if [ "$found" -eq 0 ]; then
  echo "No fuzz targets yet."
fi
