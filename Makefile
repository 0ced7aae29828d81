# Steward — every command a developer or CI needs. `make help` lists them.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Pinned tool versions (installed into ./bin with `go install`, never from elsewhere).
BUF_VERSION                 := v1.75.0
PROTOC_GEN_GO_VERSION       := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION  := v1.6.2
GRPC_GATEWAY_VERSION        := v2.33.0
# Proto dependencies come out of the Go module cache: the buf schema registry is not
# reachable. grpc-gateway v1 ships googleapis' google/api protos; protovalidate's
# repository ships buf/validate/validate.proto matching the runtime we link.
GOOGLEAPIS_MODULE           := github.com/grpc-ecosystem/grpc-gateway@v1.16.0
PROTOVALIDATE_PROTO_MODULE  := github.com/bufbuild/protovalidate@v1.1.0
# Deployment artefacts (deploy/kubernetes, deploy/systemd): kubeconform
# validates the manifests against JSON schemas committed under
# deploy/kubernetes/schemas/, which `make kubernetes-schemas` generates from
# the OpenAPI document of the Kubernetes release below (its Go module, from
# the module cache: the published schema sets are not reachable).
KUBECONFORM_VERSION         := v0.8.0
KUBERNETES_VERSION          := 1.31.14
KUBERNETES_MODULE           := k8s.io/kubernetes@v$(KUBERNETES_VERSION)
KUBERNETES_KINDS            := v1/Namespace v1/ConfigMap v1/Service apps/v1/Deployment networking.k8s.io/v1/NetworkPolicy

BIN      := $(CURDIR)/bin
DEPS     := $(CURDIR)/.buf-deps
MODULES  := gen pkg deploy services/directory services/access services/licensing services/audit services/gateway
SERVICES := directory access licensing audit gateway
PKGS     := ./pkg/... ./deploy/... $(addsuffix /...,$(addprefix ./services/,$(SERVICES)))
GOTEST_FLAGS ?= -race -count=1 -timeout 15m
# The admin console (issue 16): TypeScript built by Vite (npm registry,
# lockfile committed) into dist/, which the gateway embeds.
CONSOLE     := services/gateway/console
CONSOLE_SRC := $(shell find $(CONSOLE)/src $(CONSOLE)/public -type f 2>/dev/null) $(addprefix $(CONSOLE)/,index.html package.json vite.config.ts tsconfig.json)

export PATH := $(BIN):$(PATH)

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

## ---- tools and code generation -------------------------------------------

$(BIN)/buf:
	GOBIN=$(BIN) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(BIN)/protoc-gen-go:
	GOBIN=$(BIN) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(BIN)/protoc-gen-go-grpc:
	GOBIN=$(BIN) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
$(BIN)/protoc-gen-grpc-gateway:
	GOBIN=$(BIN) go install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$(GRPC_GATEWAY_VERSION)
$(BIN)/protoc-gen-openapiv2:
	GOBIN=$(BIN) go install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$(GRPC_GATEWAY_VERSION)
$(BIN)/kubeconform:
	GOBIN=$(BIN) go install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)

TOOLS := $(BIN)/buf $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc $(BIN)/protoc-gen-grpc-gateway $(BIN)/protoc-gen-openapiv2 $(BIN)/kubeconform

.PHONY: tools
tools: $(TOOLS) ## Install the pinned code generators and kubeconform into ./bin.

# modcache-dir prints where the Go module cache holds module $(1), downloading it.
modcache-dir = $$(go mod download -json $(1) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p')

$(DEPS)/.stamp: Makefile
	rm -rf $(DEPS) && mkdir -p $(DEPS)/google/api $(DEPS)/buf/validate
	gw=$(call modcache-dir,$(GOOGLEAPIS_MODULE)); \
	  for f in annotations http httpbody; do install -m 0644 "$$gw/third_party/googleapis/google/api/$$f.proto" $(DEPS)/google/api/; done
	pv=$(call modcache-dir,$(PROTOVALIDATE_PROTO_MODULE)); \
	  install -m 0644 "$$pv/proto/protovalidate/buf/validate/validate.proto" $(DEPS)/buf/validate/
	touch $@

.PHONY: proto-deps
proto-deps: $(DEPS)/.stamp ## Copy googleapis and protovalidate protos out of the Go module cache.

.PHONY: generate
generate: tools proto-deps ## Lint the protos and regenerate gen/ from proto/ (and gen/openapiv2's one OpenAPI document).
	buf lint
	buf format -d --exit-code proto
	find gen -mindepth 1 -maxdepth 1 ! -name go.mod ! -name go.sum -exec rm -rf {} +
	buf generate
	@# One OpenAPI document (issue 15): resource-name paths spelled out, and
	@# the Go file that embeds it for the gateway.
	go run ./deploy/openapidoc -go gen/openapiv2/openapi.go gen/openapiv2/steward.swagger.json

# buf breaking against an earlier commit: its protos are built with today's
# copied dependencies (they are git-ignored, so buf cannot read them from git).
BREAKING_AGAINST ?= HEAD~1
.PHONY: breaking
breaking: tools proto-deps ## buf breaking (FILE, WIRE_JSON) against BREAKING_AGAINST (default HEAD~1).
	@if ! git rev-parse -q --verify "$(BREAKING_AGAINST)^{commit}" >/dev/null || [ -z "$$(git ls-tree -d "$(BREAKING_AGAINST)" proto)" ]; then \
	  echo "breaking: $(BREAKING_AGAINST) has no protos; nothing to compare"; exit 0; fi; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	git archive "$(BREAKING_AGAINST)" proto buf.yaml | tar -x -C "$$tmp"; \
	cp -r $(DEPS) "$$tmp/.buf-deps"; \
	(cd "$$tmp" && buf build proto -o against.binpb); \
	buf breaking proto --against "$$tmp/against.binpb"

.PHONY: check-generated
check-generated: generate ## Fail when gen/ is not what proto/ generates.
	@if [ -n "$$(git status --porcelain -- gen)" ]; then \
	  git status --porcelain -- gen; git --no-pager diff --stat -- gen; \
	  echo "gen/ is stale: run 'make generate' and commit the result"; exit 1; fi

## ---- build, lint, test ---------------------------------------------------

.PHONY: console
console: $(CONSOLE)/dist/index.html ## Build the admin console (npm ci, tsc, Vite) into the gateway's embedded dist/.

$(CONSOLE)/node_modules/.stamp: $(CONSOLE)/package-lock.json
	cd $(CONSOLE) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CONSOLE)/dist/index.html: $(CONSOLE)/node_modules/.stamp $(CONSOLE_SRC)
	cd $(CONSOLE) && npm run --silent build

.PHONY: build
build: console ## Build the console, the five service binaries, the local launcher, the CLI and steward-etcd into ./bin.
	@mkdir -p $(BIN)
	for s in $(SERVICES); do go build -o $(BIN)/steward-$$s ./services/$$s/cmd/$$s; done
	go build -o $(BIN)/steward-local ./deploy/local
	go build -o $(BIN)/steward ./deploy/steward
	go build -o $(BIN)/steward-etcd ./deploy/etcd

.PHONY: lint
lint: tools proto-deps breaking ## buf lint, buf breaking, gofmt and go vet over every module.
	buf lint
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/') 2>&1); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./gen/... $(PKGS)
	@# A service depends on the others' contracts (gen/), never on their code:
	@# its non-test packages import no other service.
	@for s in $(SERVICES); do \
	  bad=$$(go list -deps ./services/$$s/... | grep -E '^steward\.dev/services/' | grep -v "^steward\.dev/services/$$s/" || true); \
	  if [ -n "$$bad" ]; then echo "services/$$s imports another service's code:"; echo "$$bad"; exit 1; fi; done

.PHONY: test-unit
test-unit: ## Unit, store, event-log and bufconn service tests (race detector on), then the allocation tests without it.
	go test $(GOTEST_FLAGS) $(PKGS)
	# The event log's tests again with every store on etcd (R32): the
	# conformance suite already runs on both backends.
	STEWARD_TEST_STORE=etcd go test $(GOTEST_FLAGS) ./pkg/eventlog/
	# Allocation counts mean nothing under -race: the zero-allocation tests of
	# the Check core run again without it.
	go test -count=1 -run 'Allocate' ./services/access/authorizer/

# Deployment artefacts (deploy/kubernetes, deploy/systemd; README's
# "Deploying"). kubeconform validates the manifests in strict mode against
# the committed schemas alone (no network; a kind without a schema fails),
# then the Go tests check what schemas cannot: every flag and STEWARD_*
# variable is one the program takes, ports, probes, hardening, the systemd
# units (and `systemd-analyze verify` where it runs), and that kubeconform
# refuses the broken manifests of deploy/kubernetes/testdata. Last, the
# committed schemas must be what `make kubernetes-schemas` writes.
KUBERNETES_SCHEMAS  := deploy/kubernetes/schemas/v$(KUBERNETES_VERSION)-standalone-strict
KUBECONFORM_SCHEMAS := $(CURDIR)/deploy/kubernetes/schemas/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json

.PHONY: test-deploy
test-deploy: $(BIN)/kubeconform ## Validate deploy/kubernetes (kubeconform, strict, committed schemas) and deploy/systemd; part of `make test`.
	kubeconform -strict -summary -kubernetes-version $(KUBERNETES_VERSION) -schema-location '$(KUBECONFORM_SCHEMAS)' deploy/kubernetes/*.yaml
	STEWARD_KUBECONFORM=$(BIN)/kubeconform go test -count=1 ./deploy/kubernetes/ ./deploy/systemd/ ./deploy/credentials/ ./deploy/k8sschema/ ./deploy/internal/programs/
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  k8s=$(call modcache-dir,$(KUBERNETES_MODULE)); \
	  go run ./deploy/k8sschema -spec "$$k8s/api/openapi-spec/swagger.json" -out "$$tmp" $(KUBERNETES_KINDS); \
	  diff -r "$$tmp" $(KUBERNETES_SCHEMAS) >/dev/null || { echo "$(KUBERNETES_SCHEMAS) is stale: run 'make kubernetes-schemas' and commit the result"; exit 1; }; \
	  echo "test-deploy: $(KUBERNETES_SCHEMAS) is what $(KUBERNETES_MODULE)'s OpenAPI document makes"

.PHONY: kubernetes-schemas
kubernetes-schemas: ## Regenerate deploy/kubernetes/schemas/ from the OpenAPI document of KUBERNETES_MODULE (Go module cache).
	k8s=$(call modcache-dir,$(KUBERNETES_MODULE)); \
	  go run ./deploy/k8sschema -spec "$$k8s/api/openapi-spec/swagger.json" -out $(KUBERNETES_SCHEMAS) $(KUBERNETES_KINDS)

.PHONY: browser-deps
browser-deps: ## Install Debian's chromium for the console's browser tests (apt-get, as root or with sudo).
	@command -v chromium >/dev/null || { \
	  sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$sudo apt-get install -y --no-install-recommends chromium || { $$sudo apt-get update && $$sudo apt-get install -y --no-install-recommends chromium; }; }

# Screenshots of failed browser tests (and every shot) land here.
ARTEFACTS ?= $(BIN)/artefacts

.PHONY: test-e2e
test-e2e: build browser-deps ## End-to-end tests against the real binaries, the console's in Chromium (their measurements printed).
	@# Verbose, so that what the tests measure and count (methods covered by the
	@# security suite, propagation delays) is printed; the run/pass chatter is not.
	STEWARD_ARTEFACTS=$(ARTEFACTS) STEWARD_BIN=$(BIN) go test -count=1 -tags e2e -timeout 10m -v ./deploy/... 2>&1 \
	  | grep -vE '^[[:space:]]*(=== (RUN|PAUSE|CONT|NAME)|--- PASS)'

CLUSTER_SECONDS ?= 30

.PHONY: test-cluster
test-cluster: build ## Scale-out fault tests: a 3-member etcd and 2 replicas of each backend, SIGKILLs under CLUSTER_SECONDS of mixed load (make test runs a 9 s form); then every end-to-end test with the backends on etcd.
	STEWARD_CLUSTER_SECONDS=$(CLUSTER_SECONDS) STEWARD_BIN=$(BIN) go test -count=1 -tags e2e -timeout 15m -run 'TestClusterFaults' -v ./deploy/e2e/ \
	  | grep -vE '^[[:space:]]*(=== (RUN|PAUSE|CONT|NAME)|--- PASS)'
	STEWARD_E2E_STORE=etcd STEWARD_BIN=$(BIN) go test -count=1 -tags e2e -timeout 20m -skip 'TestConsole|TestCluster' ./deploy/e2e/

.PHONY: console-screenshots
console-screenshots: build browser-deps ## Retake README's console screenshots (services/gateway/console/screenshots) with the browser tests.
	STEWARD_CONSOLE_SHOTS=$(CURDIR)/$(CONSOLE)/screenshots STEWARD_BIN=$(BIN) go test -count=1 -tags e2e -run 'TestConsole' -timeout 10m ./deploy/e2e/

# Audit's measurements (BENCHMARKS.md, issue 12's R28/R29): ingestion with
# and without fsync, then searches by actor (domain and gRPC), exports and
# VerifyAuditLog over one store of AUDIT_LOAD_EVENTS events, built once
# without fsync (keep it between runs with STEWARD_AUDIT_LOAD_DIR=<dir>).
# The machine and its load are printed with the figures. Not part of test.
AUDIT_LOAD_EVENTS ?= 1000000

.PHONY: bench-audit
bench-audit: ## Audit's benchmarks: ingestion, search p50/p99, export, verify over AUDIT_LOAD_EVENTS events.
	@echo "nproc: $$(nproc)"; lscpu | head -n 15; echo "loadavg: $$(cat /proc/loadavg)"
	cd services/audit && GOGC=400 go test -run '^$$' -bench Ingest -benchtime 3s -count 3 ./domain  # GOGC as steward-audit sets it
	@echo "loadavg: $$(cat /proc/loadavg)"
	cd services/audit && STEWARD_AUDIT_LOAD=$(AUDIT_LOAD_EVENTS) go test -count=1 -run '^TestLoad' -v -timeout 60m ./loadtest 2>&1 \
	  | grep -vE '^[[:space:]]*=== (RUN|PAUSE|CONT|NAME)'
	@echo "loadavg: $$(cat /proc/loadavg)"

# Issue 13's benchmarks. bench-data loads a dataset (BENCH_SIZE: small,
# medium or large; BENCH_SCALE scales it) into a running suite (`make run`)
# and writes its manifest; bench-load starts a suite of its own (temporary
# data, free ports), loads BENCH_SIZE into it and drives CheckPermission,
# BatchCheckPermission and the gRPC ceiling at concurrency 1, 8 and 64 for
# BENCH_SECONDS per cell (default 10), with access's own handling time per
# cell from its metrics, then measures how soon membership changes made
# through the directory are visible in Check and the first page's latency
# of the access-review queries (ListPermissionHolders, ListPermittedScopes,
# as the owner, -review-calls each); bench-profile does the same
# with access's pprof listener on and captures CPU and allocation profiles
# of access during Check at c64 for BENCH_SECONDS (default 30). Results and
# profiles go to bench/results/. The machine and its load are printed with
# the figures. None of them is part of test; bench-smoke (in test-e2e) is.
BENCH_SIZE  ?= medium
BENCH_SCALE ?= 1
BENCH_SECONDS ?=
BENCH_TIME  ?= 1s
BENCH_DIRECTORY_ADDR ?= 127.0.0.1:7001
BENCH_ACCESS_ADDR    ?= 127.0.0.1:7002
BENCH_RESULTS := $(CURDIR)/bench/results

.PHONY: bench
bench: ## Go benchmarks of the Check core, the store and the event log (BENCH_TIME each): the regression guard.
	@echo "nproc: $$(nproc)"; lscpu | head -n 15; echo "loadavg: $$(cat /proc/loadavg)"
	@# The event-log benchmark's consumers log each start; only the figures are kept.
	go test -run '^$$' -bench . -benchmem -benchtime $(BENCH_TIME) ./services/access/authorizer/ ./pkg/store/bboltstore/ ./pkg/eventlog/ \
	  | grep -vE '^[0-9/]+ [0-9:]+ INFO '
	@echo "loadavg: $$(cat /proc/loadavg)"

.PHONY: bench-data
bench-data: ## Load the BENCH_SIZE dataset into a running suite (make run); manifest in bench/results/.
	go run ./deploy/bench/cmd/benchdata -size $(BENCH_SIZE) -scale $(BENCH_SCALE) \
	  -directory-addr $(BENCH_DIRECTORY_ADDR) -access-addr $(BENCH_ACCESS_ADDR) -manifest $(BENCH_RESULTS)/manifest-$(BENCH_SIZE).json

$(BIN)/benchload: build
	go build -o $@ ./deploy/bench/cmd/benchload

.PHONY: bench-load
bench-load: $(BIN)/benchload ## Start a suite, load BENCH_SIZE, drive Check/BatchCheck/ceiling at c1, c8, c64 (BENCH_SECONDS per cell), membership changes to Check, access-review queries, stop.
	@echo "nproc: $$(nproc)"; lscpu | head -n 15; echo "loadavg: $$(cat /proc/loadavg)"
	$(BIN)/benchload -launch $(BIN) -size $(BENCH_SIZE) -scale $(BENCH_SCALE) -duration $(or $(BENCH_SECONDS),10)s -out $(BENCH_RESULTS)
	@echo "loadavg: $$(cat /proc/loadavg)"

.PHONY: bench-profile
bench-profile: $(BIN)/benchload ## As bench-load, Check at c64 only, with CPU and allocation profiles of access (BENCH_SECONDS, default 30).
	$(BIN)/benchload -launch $(BIN) -size $(BENCH_SIZE) -scale $(BENCH_SCALE) -concurrency 64 -profile \
	  -profile-seconds $(or $(BENCH_SECONDS),30) -out $(BENCH_RESULTS)

.PHONY: bench-smoke
bench-smoke: build ## The harness's smoke test alone (small dataset, fractions of a second per cell; part of test-e2e).
	STEWARD_BIN=$(BIN) go test -count=1 -tags e2e -run TestBenchSmoke -v ./deploy/bench/ 2>&1 \
	  | grep -vE '^[[:space:]]*(=== (RUN|PAUSE|CONT|NAME)|--- PASS)'

.PHONY: test
test: check-generated lint test-unit fuzz-short test-deploy test-e2e ## Everything CI runs.

# Fuzzing: every `func Fuzz...` of a _test.go file under pkg/, services/ and deploy/
# is a target. `make fuzz` runs each for FUZZTIME; `make test` runs each for
# FUZZTIME_SHORT (fuzz-short), so that a regression the fuzzers find within
# seconds fails CI. Each target runs even when an earlier one failed.
FUZZTIME       ?= 30s
# A count, not a duration: Go 1.26's fuzz coordinator can report a spurious
# "context deadline exceeded" when a duration ends while a worker is busy
# (golang/go#75804, fixed in Go 1.27); a count has no deadline to race.
FUZZTIME_SHORT ?= 2000x

# fuzz-all runs every fuzz target for $(1) each.
define fuzz-all
	@fail=0; \
	for dir in $$(grep -rlE '^func Fuzz' --include='*_test.go' pkg services deploy | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -hoE '^func Fuzz[A-Za-z0-9_]+' $$dir/*_test.go | awk '{print $$2}'); do \
	    echo "fuzz: $$f in ./$$dir for $(1)"; \
	    out=$$(go test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(1) ./$$dir 2>&1) || { echo "$$out"; fail=1; }; \
	  done; done; \
	exit $$fail
endef

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 30s).
	$(call fuzz-all,$(FUZZTIME))

.PHONY: fuzz-short
fuzz-short: ## Run each fuzz target for FUZZTIME_SHORT (default 2000 inputs); part of `make test`.
	$(call fuzz-all,$(FUZZTIME_SHORT))

.PHONY: load
load: build ## CheckPermission load run against the real binaries (LOAD_SECONDS, LOAD_CONCURRENCY).
	STEWARD_BIN=$(BIN) go test -count=1 -tags 'e2e load' -run TestLoadCheck -v -timeout 10m ./deploy/e2e/ | grep -E 'load|Batch|ok|FAIL'

.PHONY: load-leases
load-leases: build ## AcquireLease+ReleaseLease load run against the real binaries, fsync on (LOAD_SECONDS, LOAD_CONCURRENCY).
	STEWARD_BIN=$(BIN) go test -count=1 -tags 'e2e load' -run TestLoadLeases -v -timeout 10m ./deploy/e2e/ | grep -E 'lease load|ok|FAIL'

.PHONY: load-batch
load-batch: build ## Bulk creation through the batch RPCs against the real binaries (LOAD_BATCHES, LOAD_BATCH_USERS; issue 13).
	STEWARD_BIN=$(BIN) go test -count=1 -tags 'e2e load' -run TestLoadBatch -v -timeout 10m ./deploy/e2e/ | grep -E 'setup|assignments|memberships|ok|FAIL'

.PHONY: soak
soak: ## Repeat the crash (kill -9) test many times.
	STEWARD_CRASH_ROUNDS=$${ROUNDS:-50} go test -count=1 -run Crash -v ./pkg/eventlog/...

.PHONY: tidy
tidy: ## go mod tidy in every module.
	for m in $(MODULES); do (cd $$m && go mod tidy); done

## ---- run ------------------------------------------------------------------

.PHONY: run
run: build ## Start the whole suite on 127.0.0.1 with data in ./data (Ctrl-C stops it).
	exec $(BIN)/steward-local --bin-dir $(BIN) --data-dir $(CURDIR)/data

# make run-cluster's data (a directory apart from make run's: its stores are
# in etcd, and its members remember their ports).
CLUSTER_DATA ?= $(CURDIR)/data-cluster

.PHONY: run-cluster
run-cluster: build ## Start a local cluster on 127.0.0.1: a three-member etcd (steward-etcd) and two replicas of each service, data in CLUSTER_DATA (./data-cluster; Ctrl-C stops it).
	exec $(BIN)/steward-local --bin-dir $(BIN) --data-dir $(CLUSTER_DATA) -etcd-members 3 -replicas 2

.PHONY: clean
clean: ## Remove build output, copied proto deps and local data.
	rm -rf $(BIN) $(DEPS) data data-cluster $(CONSOLE)/node_modules
	find $(CONSOLE)/dist -mindepth 1 ! -name .gitkeep -delete
