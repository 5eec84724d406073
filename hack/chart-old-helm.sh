#!/usr/bin/env bash
# Lints and templates the chart with each older Helm of HELM_OLD_VERSIONS (hack/versions.env:
# v3.8.2, the Helm of Huawei Cloud CCE's console, and v3.14.4), building them first when bin/
# does not have them yet. It fails unless values.schema.json is JSON Schema draft-07 without
# a keyword of a later draft (which Helm before v3.19 ignores), and, for each old Helm:
#   - `helm lint --strict` passes with the default values and with a representative values
#     file (the local stack's sample product from config/samples, the marketplace URL, an
#     Ingress with TLS, a ServiceMonitor), without a warning or an error;
#   - `helm template` renders both without an error, byte for byte as the pinned Helm
#     (HELM_VERSION) does;
#   - values that break values.schema.json (an unknown top-level key, a wrong type, a pattern,
#     a draft-06+ numeric exclusiveMinimum, draft-07's if/then) are refused by both lint and
#     template, naming the offending value: a Helm that ignored the schema or misread its
#     draft would accept them. The pinned Helm must refuse them too, so each is a real breach.
# Usage: hack/chart-old-helm.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=hack/versions.env
source "${root}/hack/versions.env"
new="${root}/bin/helm-${HELM_VERSION}/helm"
[ -x "$new" ] || "${root}/hack/build-tools.sh" helm
read -r -a olds <<<"${HELM_OLD_VERSIONS//,/ }"
for v in "${olds[@]}"; do
  [ -x "${root}/bin/helm-${v}/helm" ] || { "${root}/hack/build-tools.sh" helm-old; break; }
done

# A private Helm home and an empty kubeconfig, so the user's repositories, plugins and clusters
# play no part.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export HELM_CACHE_HOME="$work/cache" HELM_CONFIG_HOME="$work/config" HELM_DATA_HOME="$work/data"
export KUBECONFIG="$work/kubeconfig"
: >"$KUBECONFIG" && chmod 600 "$KUBECONFIG"
cd "$root"
chart=charts/kooper

# The representative values: what the local stack installs (internal/localstack: the sample
# product's spec, the marketplace URL), plus an Ingress with TLS and a ServiceMonitor.
sample="$work/sample.yaml"
cat >"$sample" <<'EOF'
marketplaceURLs:
  - http://127.0.0.1:18090
ingress:
  enabled: true
  className: nginx
  host: koogallery.example.com
  tls:
    certManagerIssuer: letsencrypt
serviceMonitor:
  enabled: true
product:
  enabled: true
  name: crm
  spec:
EOF
# The sample SaaSProduct's spec block (its last top-level key), indented under product.spec.
awk '/^spec:/ { on = 1; next } on && /^[^ #]/ { on = 0 } on { print "    " $0 }' \
  config/samples/saas_v1alpha1_saasproduct.yaml >>"$sample"
grep -q '^      productId: ' "$sample" || { echo "no spec.productId taken from the sample product" >&2; exit 1; }

# Values that break the schema: "name|what the old Helm's message must name|YAML".
breaches=(
  'unknown top-level key (additionalProperties: false)|bogusKey|bogusKey: 1'
  'wrong type|replicaCount|replicaCount: two'
  'pattern|logLevel|logLevel: verbose'
  'numeric exclusiveMinimum (draft-06 and later) and const, in anyOf|kubeAPI.qps|kubeAPI: {qps: 0}'
  'if/then (draft-07): an enabled product without its keys|keysSecretName|product: {enabled: true, name: crm, spec: {productId: X, plans: [{skuCode: a}]}}'
)

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# run OUT HELM ARGS...: runs Helm, its stdout and stderr into OUT; returns its exit status.
run() { local out=$1; shift; "$@" >"$out" 2>&1; }

# must_pass NAME HELM ARGS...: Helm must succeed, and lint must say nothing at WARNING or ERROR.
must_pass() {
  local name=$1; shift
  if ! run "$work/out" "$@"; then
    fail "$name: helm $*"; sed 's/^/    /' "$work/out"; return 1
  fi
  if grep -qE '^\[(WARNING|ERROR)\]' "$work/out"; then
    fail "$name: problems reported"; sed 's/^/    /' "$work/out"; return 1
  fi
  echo "ok   $name"
}

# must_refuse NAME WANT HELM ARGS...: Helm must fail on the values schema, its message naming WANT.
must_refuse() {
  local name=$1 want=$2; shift 2
  if run "$work/out" "$@"; then
    fail "$name: accepted, want refused by values.schema.json"; return 1
  fi
  if ! grep -q "meet the specifications of the schema" "$work/out" || ! grep -qF -- "$want" "$work/out"; then
    fail "$name: refused, but not by the schema naming $want:"; sed 's/^/    /' "$work/out"; return 1
  fi
  echo "ok   $name: $(grep -E -m1 -- "^(\[ERROR\] values.yaml: )?- .*${want}" "$work/out" | sed 's/^[[:space:]]*//')"
}

# The schema's draft: Helm before v3.19 (gojsonschema) reads drafts 04 to 07 and silently
# ignores the keywords of 2019-09 and 2020-12, which v3.22.0 enforces; so the schema stays
# draft-07 and uses none of them.
echo "== ${chart}/values.schema.json: JSON Schema draft-07, no later keyword"
schema="${chart}/values.schema.json"
if ! grep -qE '"\$schema"[[:space:]]*:[[:space:]]*"http://json-schema.org/draft-07/schema#"' "$schema"; then
  fail "$schema: \$schema is not http://json-schema.org/draft-07/schema#: $(grep -m1 '"\$schema"' "$schema")"
fi
later='"(\$defs|\$anchor|\$dynamicRef|\$dynamicAnchor|\$recursiveRef|\$recursiveAnchor|\$vocabulary|dependentRequired|dependentSchemas|prefixItems|unevaluatedProperties|unevaluatedItems|minContains|maxContains|contentSchema)"[[:space:]]*:'
if grep -nE "$later" "$schema" >"$work/later"; then
  fail "$schema: keywords after draft-07, which Helm ${olds[*]} would ignore:"; sed 's/^/    /' "$work/later"
else
  echo "ok   draft-07, none of \$defs, dependentRequired, prefixItems, unevaluatedProperties and the other keywords of 2019-09 and 2020-12"
fi

# The pinned Helm's renders, and its refusal of each breach (so none is a false alarm).
echo "== helm ${HELM_VERSION}, the pinned Helm: the renders to compare with, each breach refused"
"$new" template kooper "$chart" >"$work/new-default.yaml"
"$new" template kooper "$chart" -f "$sample" >"$work/new-sample.yaml"
for i in "${!breaches[@]}"; do
  IFS='|' read -r name want yaml <<<"${breaches[$i]}"
  printf '%s\n' "$yaml" >"$work/breach-$i.yaml"
  must_refuse "helm ${HELM_VERSION} template, $name" "" "$new" template kooper "$chart" -f "$work/breach-$i.yaml" ||
    echo "    (the pinned Helm must refuse each breach: fix the breach, not the old Helm)"
done

for v in "${olds[@]}"; do
  helm="${root}/bin/helm-${v}/helm"
  echo "== helm ${v} ($("$helm" version --template '{{.Version}} {{.GoVersion}}')): lint and template ${chart}"
  must_pass "helm ${v} lint --strict" "$helm" lint --strict "$chart" || true
  must_pass "helm ${v} lint --strict, sample values" "$helm" lint --strict "$chart" -f "$sample" || true
  for values in default sample; do
    args=(template kooper "$chart")
    [ "$values" = default ] || args+=(-f "$sample")
    if ! "$helm" "${args[@]}" >"$work/old.yaml" 2>"$work/err"; then
      fail "helm ${v} template, ${values} values:"; sed 's/^/    /' "$work/err"; continue
    fi
    if ! cmp -s "$work/old.yaml" "$work/new-${values}.yaml"; then
      fail "helm ${v} template, ${values} values: renders otherwise than helm ${HELM_VERSION}:"
      diff -u "$work/new-${values}.yaml" "$work/old.yaml" | head -40 | sed 's/^/    /'
      continue
    fi
    echo "ok   helm ${v} template, ${values} values: $(grep -c '^kind: ' "$work/old.yaml") objects, the same as helm ${HELM_VERSION}"
  done
  for i in "${!breaches[@]}"; do
    IFS='|' read -r name want yaml <<<"${breaches[$i]}"
    must_refuse "helm ${v} lint, $name" "$want" "$helm" lint "$chart" -f "$work/breach-$i.yaml" || true
    must_refuse "helm ${v} template, $name" "$want" "$helm" template kooper "$chart" -f "$work/breach-$i.yaml" || true
  done
done

if [ "$failures" -gt 0 ]; then
  echo "chart-old-helm: $failures check(s) failed"
  exit 1
fi
echo "chart-old-helm: the chart lints, renders and enforces its schema with Helm ${olds[*]}"
