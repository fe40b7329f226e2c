# Image URL to use for all building/pushing image targets.
IMG ?= ghcr.io/cxloop/cxloop:latest

# Get the currently used golang install path (in GOPATH/bin, unless GOBIN is set).
ifeq (,$(shell go env GOBIN))
GOBIN=$(shell go env GOPATH)/bin
else
GOBIN=$(shell go env GOBIN)
endif

# CONTAINER_TOOL defines the container tool to be used for building images.
CONTAINER_TOOL ?= docker

# Setting SHELL to bash allows bash commands to be executed by recipes.
# Options are set to exit when a recipe line exits non-zero or a piped command fails.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

# The help target prints out all targets with their descriptions organized
# beneath their categories. The categories are represented by '##@' and the
# target descriptions by '##'.

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs, RBAC (ClusterRole) and webhook configuration from markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd:allowDangerousTypes=true webhook paths="./api/..." paths="./controllers/..." paths="./internal/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods (zz_generated.deepcopy.go) for the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt against code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet against code.
	go vet ./...

.PHONY: envtest
envtest: ## Build (once, cached) kube-apiserver and etcd for envtest and print their directory.
	@hack/setup-envtest.sh

# The envtest assets are looked up only by the recipes that need them, never at
# parse time, so `make help` or `make build` stay fast. KUBEBUILDER_ASSETS from
# the environment is reused as it is. CXLOOP_TEST_POSTGRES_DSN, when set,
# passes through to the tests through the environment.
.PHONY: test
test: manifests generate fmt vet helm kustomize ## Run all tests against a real kube-apiserver and etcd (builds them on first use).
	KUBEBUILDER_ASSETS="$$(hack/setup-envtest.sh)" go test ./... -coverprofile cover.out

# RACE_PKGS are the packages `make test-race` runs under the race detector:
# those whose tests need no control plane (their tests import neither
# internal/testenv nor envtest; the demo starts its own). The envtest
# packages run without it in `make test`, which keeps CI within its time
# budget.
RACE_PKGS ?= $(shell go list -f '{{.ImportPath}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./internal/... ./config/... | grep -v -e internal/testenv -e pkg/envtest -e /internal/demo | cut -d' ' -f1)

.PHONY: test-race
test-race: ## Run the tests of the packages that need no control plane under the race detector.
	go test -race $(RACE_PKGS)

# BENCH selects benchmarks by name and BENCH_PKGS the packages, e.g.
# make bench BENCH=Ingest BENCH_PKGS=./internal/collector/ ; BENCHTIME sets -benchtime (e.g. 1000x).
BENCH ?= .
BENCH_PKGS ?= ./...

.PHONY: bench
bench: ## Run the benchmarks (no tests); BENCH and BENCH_PKGS narrow them.
	KUBEBUILDER_ASSETS="$$(hack/setup-envtest.sh)" go test -run '^$$' -bench '$(BENCH)' -benchmem $(if $(BENCHTIME),-benchtime $(BENCHTIME)) $(BENCH_PKGS)

# Paths whose generated content must be committed.
VERIFY_PATHS ?= api config charts

.PHONY: verify
verify: manifests generate fmt chart-crds ## Fail when generated or formatted files differ from what is committed.
	@stale="$$( { git status --porcelain --untracked-files=no; \
		git status --porcelain --untracked-files=all -- $(VERIFY_PATHS) | grep '^??' || true; } )"; \
	if [ -n "$$stale" ]; then \
		echo "ERROR: these files are stale (changed by make manifests generate fmt) or untracked:" >&2; \
		echo "$$stale" | sed 's/^/  /' >&2; \
		echo "Run 'make manifests generate chart-crds' (and 'make fmt'), then commit the result." >&2; \
		git --no-pager diff --exit-code >&2 || true; \
		exit 1; \
	fi
	@git --no-pager diff --exit-code
	@echo "verify: generated files are up to date"

.PHONY: lint
lint: golangci-lint ## Run golangci-lint.
	$(GOLANGCI_LINT) run

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint and apply its fixes.
	$(GOLANGCI_LINT) run --fix

.PHONY: lint-config
lint-config: golangci-lint ## Verify the golangci-lint configuration.
	$(GOLANGCI_LINT) config verify

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the cxloop binary and the kubectl cx plugin (kubectl-cx) into bin/.
	go build -o $(LOCALBIN)/cxloop .
	go build -o $(LOCALBIN)/kubectl-cx ./cmd/kubectl-cx

.PHONY: krew-release
krew-release: ## Build the kubectl-cx archives into dist/ and render plugins/cx.yaml with their sha256 (VERSION=v0.1.0).
	hack/krew-release.sh $(VERSION)

# COLLECTOR_ENDPOINT reaches the collectors from outside the cluster, e.g.
# make run COLLECTOR_ENDPOINT=http://127.0.0.1:9443 with kubectl port-forward (see README).
.PHONY: run
run: manifests generate fmt vet ## Run the manager against the cluster in ~/.kube/config; COLLECTOR_ENDPOINT=<url> reaches its collectors.
	go run . manager --collector-image=$(IMG) --webhook-port=0 $(if $(COLLECTOR_ENDPOINT),--collector-endpoint='$(COLLECTOR_ENDPOINT)')

# DEMO_ARGS passes flags to the demo, e.g. make demo DEMO_ARGS="--responses 500 --exit".
.PHONY: demo
demo: ## Run everything on this machine: local control plane, CRDs, manager, collectors, sample program, replayed responses.
	KUBEBUILDER_ASSETS="$$(hack/setup-envtest.sh)" go run . demo $(DEMO_ARGS)

.PHONY: docker-build
docker-build: ## Build the container image.
	$(CONTAINER_TOOL) build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the container image.
	$(CONTAINER_TOOL) push $(IMG)

##@ Helm chart

CHART_DIR ?= charts/cxloop
# Namespace `make helm-template` renders the release into.
HELM_NAMESPACE ?= cxloop-system
# Kubernetes version `helm template` renders for (no cluster is asked); the
# chart needs 1.33+. The envtest control plane's version.
HELM_KUBE_VERSION ?= 1.36.3

# The chart keeps copies of what config/ generates or defines, so that a
# chart install and `make deploy` install the same thing: the CRDs, the
# manager's RBAC rules (from the +kubebuilder:rbac markers), the roles for
# people and the admission policies. `make verify` fails when a copy is stale.
.PHONY: chart-crds
chart-crds: manifests ## Sync the Helm chart's CRDs, manager RBAC rules, user roles and admission policies from config/.
	@mkdir -p $(CHART_DIR)/crds $(CHART_DIR)/files/rbac $(CHART_DIR)/files/admission
	@rm -f $(CHART_DIR)/crds/*.yaml $(CHART_DIR)/files/rbac/*.yaml $(CHART_DIR)/files/admission/*.yaml
	cp config/crd/bases/*.yaml $(CHART_DIR)/crds/
	@{ echo "# Generated by 'make chart-crds' from config/rbac/role.yaml (controller-gen,"; \
	  echo "# from the +kubebuilder:rbac markers). Do not edit."; \
	  awk 'found { print } /^rules:/ { found = 1 }' config/rbac/role.yaml; } > $(CHART_DIR)/files/manager-role-rules.yaml
	@grep -q 'apiGroups' $(CHART_DIR)/files/manager-role-rules.yaml || { echo "chart-crds: no rules found in config/rbac/role.yaml" >&2; exit 1; }
	cp $(sort $(wildcard config/rbac/cx_*_role.yaml config/rbac/*_editor_role.yaml config/rbac/*_viewer_role.yaml)) $(CHART_DIR)/files/rbac/
	cp config/admission/*_policies.yaml $(CHART_DIR)/files/admission/
	cp config/webhook/mutating_webhook.yaml $(CHART_DIR)/files/mutating-webhook.yaml

.PHONY: helm-lint
helm-lint: helm ## Lint the Helm chart with its default values and with each file in charts/cxloop/ci/.
	$(HELM) lint --strict $(CHART_DIR)
	@for f in $(CHART_DIR)/ci/*.yaml; do \
		echo "$(HELM) lint --strict $(CHART_DIR) -f $$f"; \
		$(HELM) lint --strict $(CHART_DIR) -f "$$f" || exit 1; \
	done

.PHONY: helm-template
helm-template: helm ## Render the Helm chart (with CRDs) to stdout.
	@$(HELM) template cxloop $(CHART_DIR) --namespace $(HELM_NAMESPACE) --kube-version $(HELM_KUBE_VERSION) --include-crds

##@ Deployment

ifndef ignore-not-found
  ignore-not-found = true
endif

.PHONY: install
install: manifests kustomize ## Install the CRDs into the cluster in ~/.kube/config.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: manifests kustomize ## Uninstall the CRDs. Call with ignore-not-found=false to fail on missing resources.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

.PHONY: deploy
deploy: manifests kustomize ## Deploy the manager to the cluster in ~/.kube/config (image from IMG=...).
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Remove the manager from the cluster. Call with ignore-not-found=false to fail on missing resources.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

##@ Dependencies

## Location to install tools to
LOCALBIN ?= $(shell pwd)/bin
$(LOCALBIN):
	mkdir -p $(LOCALBIN)

## Tool binaries
KUBECTL ?= kubectl
KUSTOMIZE ?= $(LOCALBIN)/kustomize
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint
HELM ?= $(LOCALBIN)/helm

## Tool versions
KUSTOMIZE_VERSION ?= v5.8.2
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
# Helm from the Go module proxy: the newest v3 release (v3.22.0 builds with go1.26).
HELM_VERSION ?= v3.22.0

.PHONY: tools
tools: kustomize controller-gen golangci-lint helm ## Install all pinned tools into bin/.

.PHONY: kustomize
kustomize: | $(LOCALBIN) ## Install the pinned kustomize into bin/ (reinstalls when the version changes).
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

.PHONY: controller-gen
controller-gen: | $(LOCALBIN) ## Install the pinned controller-gen into bin/ (reinstalls when the version changes).
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: golangci-lint
golangci-lint: | $(LOCALBIN) ## Install the pinned golangci-lint into bin/ (reinstalls when the version changes).
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

.PHONY: helm
helm: | $(LOCALBIN) ## Install the pinned helm into bin/ (reinstalls when the version changes).
	$(call go-install-tool,$(HELM),helm.sh/helm/v3/cmd/helm,$(HELM_VERSION))

# go-install-tool will 'go install' any package with custom target and name of binary, if it doesn't exist
# $1 - target path with name of binary
# $2 - package url which can be installed
# $3 - specific version of package
define go-install-tool
@[ -f "$(1)-$(3)" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$$(basename -- "$(1)-$(3)")" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Downloading $${package}" ;\
rm -f "$(1)" ;\
GOBIN="$(LOCALBIN)" go install $${package} ;\
mv "$(LOCALBIN)/$$(basename "$(1)")" "$(1)-$(3)" ;\
} ;\
ln -sf "$$(basename -- "$(1)-$(3)")" "$(1)"
endef
