#!/usr/bin/env bash
# Runs the helm-unittest suites of the chart (charts/kooper/tests/*_test.yaml), building
# helm-unittest first when bin/ does not have it yet. The helm-unittest binary embeds Helm
# v3 and renders the chart itself, so it runs without `helm plugin install` and without a
# cluster. Exits non-zero when a test fails.
# Usage: hack/chart-unittest.sh [helm-unittest flag ...]   e.g. -u to update snapshots
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=hack/versions.env
source "${root}/hack/versions.env"
unittest="${root}/bin/helm-unittest-${HELM_UNITTEST_VERSION}/helm-unittest"

[ -x "$unittest" ] || "${root}/hack/build-tools.sh" helm-unittest

# A private Helm home, so the user's repositories and plugins play no part.
home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT
export HELM_CACHE_HOME="$home/cache" HELM_CONFIG_HOME="$home/config" HELM_DATA_HOME="$home/data"

cd "$root"
echo "== helm-unittest ${HELM_UNITTEST_VERSION}: charts/kooper/tests/*_test.yaml"
"$unittest" --strict --color=false "$@" charts/kooper
# The template's own guards (`required`), which values.schema.json would otherwise answer first.
echo "== helm-unittest ${HELM_UNITTEST_VERSION}: charts/kooper/tests/skip-schema-validation/*_test.yaml"
"$unittest" --strict --color=false --skip-schema-validation \
  -f 'tests/skip-schema-validation/*_test.yaml' "$@" charts/kooper
