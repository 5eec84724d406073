# kooper Makefile. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

include hack/versions.env

ROOT := $(abspath .)
BIN := $(ROOT)/bin
KUBE_BIN := $(BIN)/kubernetes-$(KUBERNETES_VERSION)
CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)/controller-gen
ENVTEST_ASSETS := $(BIN)/envtest
GO_TEST_FLAGS ?= -count=1
# How long each fuzz target runs: a fixed count within make test (a count
# rather than a duration sidesteps a Go 1.26 fuzz-engine race on deadlines),
# a duration by hand.
TEST_FUZZTIME ?= 20000x
FUZZTIME ?= 1m

export KOOPER_ENVTEST_ASSETS := $(ENVTEST_ASSETS)

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code for the API types.
	$(CONTROLLER_GEN) object paths="./api/..."

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRDs (config/crd/bases) and each component's RBAC (config/rbac/receiver, config/rbac/controllers) from the markers, and copy them into the chart.
	$(CONTROLLER_GEN) crd paths="./api/..." output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=kooper-receiver paths="./webhook/..." output:rbac:artifacts:config=config/rbac/receiver
	$(CONTROLLER_GEN) rbac:roleName=kooper-controllers paths="./controllers/..." output:rbac:artifacts:config=config/rbac/controllers
	hack/sync-chart.sh

GENERATED := api/v1alpha1/zz_generated.deepcopy.go config/crd/bases config/rbac \
	'charts/kooper/templates/crd-*.yaml' 'charts/kooper/templates/rbac-*.yaml'

.PHONY: verify-generated
verify-generated: generate manifests ## Fail when the committed generated files are stale (CI runs this).
	@stale=$$(git status --porcelain -- $(GENERATED)); if [ -n "$$stale" ]; then \
	  echo "Generated files are stale; run 'make generate manifests' and commit the result:"; \
	  echo "$$stale"; git --no-pager diff -- $(GENERATED) | head -50; exit 1; \
	fi
	@echo "Generated files are up to date."

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet and check gofmt.
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	go vet ./...

##@ Tools (built from the Go module proxy into bin/, cached by version)

.PHONY: tools
tools: ## Build every tool: Kubernetes v1.37 binaries, etcd, kwok, Helm, helm-unittest, controller-gen.
	hack/build-tools.sh

.PHONY: envtest-assets
envtest-assets: ## Build what the tests run: kube-apiserver, kubectl and etcd for envtest, Helm and helm-unittest for the chart tests.
	hack/build-tools.sh kubernetes etcd helm helm-unittest

$(CONTROLLER_GEN):
	hack/build-tools.sh controller-gen

##@ Test

.PHONY: test
test: envtest-assets generate manifests vet ## Run every unit and envtest integration test, then each fuzz target briefly.
	go test $(GO_TEST_FLAGS) ./...
	cd hack/promql-meter && go test $(GO_TEST_FLAGS) ./...
	hack/chart-unittest.sh
	hack/fuzz.sh $(TEST_FUZZTIME)

.PHONY: test-promql
test-promql: ## Run the Prometheus meter against Prometheus's PromQL engine and TSDB (a module of its own, hack/promql-meter).
	cd hack/promql-meter && go test $(GO_TEST_FLAGS) ./...

# How many random callback sequences make test-lifecycle runs (make test runs 50).
LIFECYCLE_CHECKS ?= 2000

.PHONY: test-lifecycle
test-lifecycle: envtest-assets ## Hold the receivers and controllers to docs/lifecycle.md over LIFECYCLE_CHECKS (default 2,000) random callback sequences.
	go test $(GO_TEST_FLAGS) -timeout=4h ./hack/lifecycle/ -rapid.checks=$(LIFECYCLE_CHECKS) -rapid.shrinktime=5m

.PHONY: chart-test
chart-test: ## Run the chart's helm-unittest suites (charts/kooper/tests) and check its generated README.
	hack/chart-unittest.sh
	go run ./hack/chart-readme --check

.PHONY: chart-readme
chart-readme: ## Regenerate charts/kooper/README.md from the values.yaml comments.
	go run ./hack/chart-readme

.PHONY: e2e
e2e: tools ## End to end on the local cluster: the chart via Helm, the whole tenant lifecycle, conformance, helm upgrade/uninstall.
	go test -count=1 -timeout=20m -v ./hack/e2e/ -args -e2e

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 1m).
	hack/fuzz.sh $(FUZZTIME)

# Knobs of make bench, passed to hack/bench through the environment.
BENCH_TENANTS ?= 1000
BENCH_SCALE ?= 10000
export BENCH_TENANTS BENCH_SCALE

.PHONY: bench
bench: tools ## Benchmarks against same-run baselines (go benchmarks, receiver, 1,000 tenants, 10,000 tenants); report in bin/bench/report.md. Not part of make test.
	go run ./hack/bench $(BENCH_FLAGS)

.PHONY: chaos
chaos: tools ## Faults injected while the marketplace keeps calling (issue 21's eight scenarios: controllers, receiver, etcd and every process killed, kube-apiserver stopped, Query Order and the usage API failing, a duplicate storm): 0 lost, 0 duplicated, or it fails; report in bin/chaos/report.md. Not part of make test.
	go run ./hack/chaos $(CHAOS_FLAGS)

# The scenarios make chaos-short runs: CI's short form runs 1 and 3 (the
# leading controllers killed, kube-apiserver stopped). "" runs every one.
CHAOS_SHORT_SCENARIOS ?= 1,3

.PHONY: chaos-short
chaos-short: tools ## CI's short form of make chaos: scenarios 1 and 3 (CHAOS_SHORT_SCENARIOS; "" for all) with 100 purchases each, about 3 minutes.
	go run ./hack/chaos -short -scenarios "$(CHAOS_SHORT_SCENARIOS)" $(CHAOS_FLAGS)

##@ Images (no Docker engine, no registry: hack/image, hack/install-runtime.sh)

# What make image stamps the images with: the version (the binaries'
# --version, the archives' ref name) and the creation time (the last
# commit's, so that the same commit builds the same digests).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
IMAGE_PLATFORMS ?= linux/amd64,linux/arm64

.PHONY: image
image: ## Build kooper's and the sample app's images FROM scratch (IMAGE_PLATFORMS, default linux/amd64 and linux/arm64) as OCI archives: bin/images/kooper.oci.tar, bin/images/sample-app.oci.tar.
	cd hack/image && go run . -root $(ROOT) -out $(BIN)/images -version $(VERSION) -created $(SOURCE_DATE_EPOCH) -platforms $(IMAGE_PLATFORMS)

.PHONY: image-test
image-test: image ## Check the images (every platform, and against the Dockerfile), then run them with runc: kooper's version, its refusal without a kubeconfig, ready against a real API server, SIGTERM; the sample app. Skips the runc part without runc, outside CI.
	hack/build-tools.sh kubernetes etcd
	cd hack/image && KOOPER_IMAGES_DIR=$(BIN)/images go test $(GO_TEST_FLAGS) ./...
	cd hack/image && go run ./smoke -root $(ROOT) -images $(BIN)/images -work $(BIN)/image-test -envtest-assets $(ENVTEST_ASSETS)

##@ Build and run

.PHONY: build
build: ## Build the operator binary into bin/kooper.
	go build -o $(BIN)/kooper .

.PHONY: demo
demo: tools ## Local cluster + chart + operator, then buy a tenant through the simulator and watch it get Ready. DEMO_FLAGS=--once exits at Ready.
	go run ./hack/demo $(DEMO_FLAGS)

.PHONY: cluster-up
cluster-up: tools ## Run the bare local cluster (etcd, kube-apiserver, controller-manager, scheduler, kwok) until Ctrl-C.
	go run ./hack/local-cluster up

.PHONY: cluster-down
cluster-down: ## Kill what a killed demo, e2e or cluster-up left running.
	go run ./hack/local-cluster --dir bin/local-cluster down
	go run ./hack/local-cluster --dir bin/demo down
	go run ./hack/local-cluster --dir bin/e2e down
