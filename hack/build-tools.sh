#!/usr/bin/env bash
# Builds the real Kubernetes binaries and the build tools into bin/, from the Go
# module proxy (the only place these machines can fetch code from; there is no
# binary download). Each tool lands in bin/<tool>-<version>/ and is skipped when
# already there, so only the first run is slow (about 10 minutes on 2 cores,
# most of it kube-apiserver and friends).
#
# Usage: hack/build-tools.sh [tool ...]   tools: kubernetes kubernetes-node containerd kube-router etcd kwok helm helm-old controller-gen helm-unittest crd-ref-docs golangci-lint promtool
#        (no argument builds them all)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/versions.env
source "$ROOT/hack/versions.env"
BIN="$ROOT/bin"
WORK="$BIN/.build"
mkdir -p "$BIN" "$WORK"

log() { printf '[build-tools %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# present DIR FILE... : true when every FILE exists and is executable in DIR.
present() {
  local dir=$1; shift
  local f
  for f in "$@"; do [ -x "$dir/$f" ] || return 1; done
}

# cached DIR LABEL FILE... : true, after saying so, when DIR already holds
# every FILE (the tool LABEL needs no build).
cached() {
  local dir=$1 label=$2
  shift 2
  present "$dir" "$@" || return 1
  log "$label: cached in ${dir#"$ROOT"/}"
}

# wrapper_module DIR MODULE: a throw-away module in DIR that other builds run in.
wrapper_module() {
  rm -rf "$1" && mkdir -p "$1"
  printf 'module kooper.local/%s\n\ngo 1.26\n' "$2" >"$1/go.mod"
}

build_kubernetes() {
  k8s_build "$BIN/kubernetes-$KUBERNETES_VERSION" kubernetes "about 6-8 minutes" \
    kube-apiserver kube-controller-manager kube-scheduler kubectl
}

# build_kubernetes_node: the node's own binaries, kubelet and kube-proxy, for the
# real-node lane (make e2e-node) only; kept apart so the other lanes never wait for them.
build_kubernetes_node() {
  k8s_build "$BIN/kubernetes-node-$KUBERNETES_VERSION" kubernetes-node "about 4-6 minutes" kubelet kube-proxy
}

# k8s_build DEST NAME ETA CMD...: builds k8s.io/kubernetes/cmd/CMD... at
# KUBERNETES_VERSION into DEST.
k8s_build() {
  local dest=$1 name=$2 eta=$3
  shift 3
  local cmds=("$@")
  if cached "$dest" "$name $KUBERNETES_VERSION" "${cmds[@]}"; then return; fi
  log "$name $KUBERNETES_VERSION: building ${cmds[*]} (first time: $eta)"
  local w="$WORK/$name"
  wrapper_module "$w" "$name-build"
  local staging="v0${KUBERNETES_VERSION#v1}" # v1.37.2 -> v0.37.2
  (
    cd "$w"
    go mod edit -require="k8s.io/kubernetes@$KUBERNETES_VERSION"
    # k8s.io/kubernetes replaces its staging modules with ./staging/... paths,
    # which do not exist outside its repository: point each at its published
    # version instead.
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    local mod
    for mod in $(awk '/=> \.\/staging\//{print $1}' "$gomod"); do
      grep -qE "^[[:space:]]+$mod v0\.0\.0$" "$gomod" || continue
      go mod edit -replace="$mod=$mod@$staging"
    done
    local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION"
    ldflags+=" -X k8s.io/component-base/version.gitMajor=$(echo "$KUBERNETES_VERSION" | cut -d. -f1 | tr -d v)"
    ldflags+=" -X k8s.io/component-base/version.gitMinor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)"
    ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
    ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION"
    local pkgs=()
    for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
    mkdir -p "$dest.tmp"
    GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$dest.tmp/" "${pkgs[@]}"
  )
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  log "$name $KUBERNETES_VERSION: done"
}

build_etcd() {
  local dest="$BIN/etcd-$ETCD_VERSION"
  if cached "$dest" "etcd $ETCD_VERSION" etcd; then return; fi
  log "etcd $ETCD_VERSION: building (about a minute)"
  local w="$WORK/etcd"
  wrapper_module "$w" etcd-build
  (
    cd "$w"
    # etcd's server module has replace directives of its own, so
    # `go install pkg@version` refuses it; a wrapper module can build it.
    go mod edit -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    mkdir -p "$dest.tmp"
    GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$dest.tmp/etcd" go.etcd.io/etcd/server/v3
  )
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  log "etcd $ETCD_VERSION: done"
}

build_helm_unittest() {
  local dest="$BIN/helm-unittest-$HELM_UNITTEST_VERSION"
  if cached "$dest" "helm-unittest $HELM_UNITTEST_VERSION" helm-unittest; then return; fi
  log "helm-unittest $HELM_UNITTEST_VERSION: building (about a minute)"
  local w="$WORK/helm-unittest"
  wrapper_module "$w" helm-unittest-build
  (
    cd "$w"
    # helm-unittest replaces yaml-jsonpath with its own fork, so `go install
    # pkg@version` refuses it; a wrapper module repeats the replace and builds it.
    # The binary embeds Helm v3 as a library: it renders charts without a helm
    # binary and without `helm plugin install` (which downloads a release).
    go mod edit -require="github.com/helm-unittest/helm-unittest@$HELM_UNITTEST_VERSION"
    local gomod
    gomod=$(go mod download -json "github.com/helm-unittest/helm-unittest@$HELM_UNITTEST_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    # Each "replace OLD [VERSION] => NEW VERSION" line (or block entry) of its go.mod.
    local old new
    while read -r old new; do go mod edit -replace="$old=$new"; done < <(awk '
      /^replace \(/ { block = 1; next }
      block && /^\)/ { block = 0; next }
      /^replace / || block {
        sub(/^replace /, "")
        if ($3 == "=>") print $1 "@" $2, $4 "@" $5; else print $1, $3 "@" $4
      }' "$gomod")
    mkdir -p "$dest.tmp"
    GOFLAGS=-mod=mod go build -trimpath -o "$dest.tmp/helm-unittest" \
      -ldflags "-s -w -X github.com/helm-unittest/helm-unittest/internal/build.version=${HELM_UNITTEST_VERSION#v}" \
      github.com/helm-unittest/helm-unittest/cmd/helm-unittest
  )
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  log "helm-unittest $HELM_UNITTEST_VERSION: done"
}

# go_install NAME VERSION PACKAGE [LDFLAGS]: a plain `go install pkg@version` into bin/NAME-VERSION.
go_install() {
  local name=$1 version=$2 pkg=$3 ldflags=${4:-}
  local dest="$BIN/$name-$version"
  if cached "$dest" "$name $version" "$name"; then return; fi
  log "$name $version: building"
  rm -rf "$dest.tmp"
  GOBIN="$dest.tmp" go install -trimpath -ldflags "-s -w $ldflags" "$pkg@$version"
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  log "$name $version: done"
}

build_kwok() { go_install kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok "-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}"; }
build_helm() { go_install helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"; }
# build_helm_old: each Helm of HELM_OLD_VERSIONS into bin/helm-<version>, for
# hack/chart-old-helm.sh. Each builds as it is with today's Go (no dependency
# changed); like Helm's own Makefile, the build stamps the Kubernetes version of
# the client-go it requires (major + 1, minor) as its default for lint and
# template, so these match the released binaries (v1.23 for v3.8.2).
build_helm_old() {
  local v gomod client_go minor
  for v in ${HELM_OLD_VERSIONS//,/ }; do
    if cached "$BIN/helm-$v" "helm $v" helm; then continue; fi
    gomod=$(go mod download -json "helm.sh/helm/v3@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    client_go=$(awk '$1 == "k8s.io/client-go" { print $2 }' "$gomod") # e.g. v0.23.5
    [[ $client_go == v0.* ]] || { echo "helm $v: unexpected k8s.io/client-go version '$client_go'" >&2; exit 1; }
    minor=$(echo "$client_go" | cut -d. -f2)
    go_install helm "$v" helm.sh/helm/v3/cmd/helm "-X helm.sh/helm/v3/internal/version.version=$v \
-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor \
-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"
  done
}
# build_containerd: containerd v2 with its ctr and runc shim, for the real-node
# lane (make e2e-node): kubelet 1.37 wants a containerd 2 (Debian bookworm ships
# 1.6). Static (no cgo: no btrfs snapshotter, which the lane does not use).
build_containerd() {
  local dest="$BIN/containerd-$CONTAINERD_VERSION"
  local cmds=(containerd ctr containerd-shim-runc-v2)
  if cached "$dest" "containerd $CONTAINERD_VERSION" "${cmds[@]}"; then return; fi
  log "containerd $CONTAINERD_VERSION: building ${cmds[*]} (about 3 minutes)"
  local w="$WORK/containerd"
  wrapper_module "$w" containerd-build
  (
    cd "$w"
    go mod edit -require="github.com/containerd/containerd/v2@$CONTAINERD_VERSION"
    local pkgs=() c
    for c in "${cmds[@]}"; do pkgs+=("github.com/containerd/containerd/v2/cmd/$c"); done
    mkdir -p "$dest.tmp"
    CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -tags "no_btrfs no_devmapper no_zfs" \
      -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
      -o "$dest.tmp/" "${pkgs[@]}"
  )
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  log "containerd $CONTAINERD_VERSION: done"
}

# build_kube_router: kube-router, run in firewall-only mode by the real-node lane
# to enforce NetworkPolicy (it needs the iptables and ipset Debian packages).
build_kube_router() { go_install kube-router "$KUBE_ROUTER_VERSION" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router; }

build_controller_gen() { go_install controller-gen "$CONTROLLER_GEN_VERSION" sigs.k8s.io/controller-tools/cmd/controller-gen; }
# crd-ref-docs writes the API reference (make api-docs, docs/reference/api.md) from api/'s types.
build_crd_ref_docs() { go_install crd-ref-docs "$CRD_REF_DOCS_VERSION" github.com/elastic/crd-ref-docs; }
# promtool runs the alerting rules' unit tests (hack/chart/alerts_test.go, make
# test). The Prometheus module has no replace directive, so a plain go install
# builds it; remove_all_sd leaves out every service-discovery plugin (the cloud
# SDKs: half the binary, and most of the build), which rule tests never use.
build_promtool() { GOFLAGS="${GOFLAGS:+$GOFLAGS }-tags=remove_all_sd" go_install promtool "$PROMETHEUS_VERSION" \
  github.com/prometheus/prometheus/cmd/promtool "-X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION"; }

# golangci_lint_dir: where build_golangci_lint puts its binary; both versions
# name it, so a bump of either rebuilds. The Makefile names the same folder.
golangci_lint_dir() { echo "$BIN/golangci-lint-$GOLANGCI_LINT_VERSION-kal-${KUBE_API_LINTER_VERSION##*-}"; }

# build_golangci_lint: golangci-lint with kube-api-linter compiled in as a
# module plugin, one binary for make lint. `golangci-lint custom` would build
# the same from .custom-gcl.yml, but it starts with a git clone of
# github.com/golangci/golangci-lint, which these machines cannot reach. So a
# wrapper module builds kube-api-linter's own golangci-lint command
# (cmd/golangci-lint-kube-api-linter: golangci-lint's entry point plus the
# plugin's import), with golangci-lint raised to GOLANGCI_LINT_VERSION.
build_golangci_lint() {
  local dest
  dest=$(golangci_lint_dir)
  local label="golangci-lint $GOLANGCI_LINT_VERSION + kube-api-linter $KUBE_API_LINTER_VERSION"
  if cached "$dest" "$label" golangci-lint; then return; fi
  log "$label: building (about 3 minutes)"
  local w="$WORK/golangci-lint"
  wrapper_module "$w" golangci-lint-build
  (
    cd "$w"
    go mod edit -require="github.com/golangci/golangci-lint/v2@$GOLANGCI_LINT_VERSION" \
      -require="sigs.k8s.io/kube-api-linter@$KUBE_API_LINTER_VERSION"
    # kube-api-linter requires a golangci-lint of its own; were it newer than
    # ours, Go would silently build that one instead.
    local got
    got=$(GOFLAGS=-mod=mod go list -m -f '{{.Version}}' github.com/golangci/golangci-lint/v2)
    [ "$got" = "$GOLANGCI_LINT_VERSION" ] || { echo "golangci-lint resolves to $got, not $GOLANGCI_LINT_VERSION" >&2; exit 1; }
    mkdir -p "$dest.tmp"
    GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$dest.tmp/golangci-lint" \
      sigs.k8s.io/kube-api-linter/cmd/golangci-lint-kube-api-linter
  )
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  log "$label: done"
}

# link_envtest: bin/envtest holds the binaries envtest starts, as envtest's
# BinaryAssetsDirectory expects them (one folder, fixed names).
link_envtest() {
  mkdir -p "$BIN/envtest"
  ln -sfn "../kubernetes-$KUBERNETES_VERSION/kube-apiserver" "$BIN/envtest/kube-apiserver"
  ln -sfn "../kubernetes-$KUBERNETES_VERSION/kubectl" "$BIN/envtest/kubectl"
  ln -sfn "../etcd-$ETCD_VERSION/etcd" "$BIN/envtest/etcd"
}

main() {
  local tools=("$@")
  [ ${#tools[@]} -gt 0 ] || tools=(controller-gen etcd kubernetes kwok helm helm-old helm-unittest crd-ref-docs golangci-lint promtool)
  local t
  for t in "${tools[@]}"; do
    case $t in
      kubernetes) build_kubernetes ;;
      kubernetes-node) build_kubernetes_node ;;
      containerd) build_containerd ;;
      kube-router) build_kube_router ;;
      etcd) build_etcd ;;
      kwok) build_kwok ;;
      helm) build_helm ;;
      helm-old) build_helm_old ;;
      controller-gen) build_controller_gen ;;
      helm-unittest) build_helm_unittest ;;
      crd-ref-docs) build_crd_ref_docs ;;
      golangci-lint) build_golangci_lint ;;
      promtool) build_promtool ;;
      *) echo "unknown tool: $t" >&2; exit 2 ;;
    esac
  done
  if present "$BIN/kubernetes-$KUBERNETES_VERSION" kube-apiserver kubectl && present "$BIN/etcd-$ETCD_VERSION" etcd; then
    link_envtest
  fi
}

main "$@"
