# tracecart's everyday commands. `make help` lists them.

# testcontainers-go must dial published ports on loopback (it would otherwise guess the Docker
# gateway's address on machines that look like containers), and Ryuk, its reaper container, cannot
# be pulled where no registry is reachable: the tests remove their own containers instead.
export TESTCONTAINERS_HOST_OVERRIDE ?= 127.0.0.1
export TESTCONTAINERS_RYUK_DISABLED ?= true

# Every module of the workspace (go.work).
MODULES := shared gateway user-service order-service product-service e2e
# The system suite starts five stacks (about 15-20 minutes on two busy cores); the timeout is
# per test binary.
GO_TEST_FLAGS ?= -count=1 -timeout 45m

.PHONY: help test test-short vet fmt images lint chart-check chart-golden demo demo-down

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# The demo is the root compose.yaml, exactly what `docker compose up -d --build` starts. On a
# machine without a registry, build the stand-ins (make images) and export
# COMPOSE_FILE=infra/offline/compose.yaml first: both targets pass the environment on.
demo: ## bring the compose demo up in the background, building the service images
	docker compose up -d --build

demo-down: ## stop the compose demo and remove its data (needed when switching image sets)
	docker compose down --volumes

test: ## run every test (needs Docker; set TRACECART_IMAGES_FILE=infra/offline/images.env to use stand-ins)
	go test $(GO_TEST_FLAGS) $(addprefix ./,$(addsuffix /...,$(MODULES)))

vet: ## go vet every module
	go vet $(addprefix ./,$(addsuffix /...,$(MODULES)))

fmt: ## gofmt every Go file
	gofmt -l -w $(MODULES)

images: ## build the offline stand-in images (infra/offline)
	bash infra/offline/build.sh

chart-check: ## lint and render the Helm chart, validate it against the Kubernetes schema, compare with golden/
	bash deploy/check.sh

chart-golden: ## rewrite the Helm chart's golden renders after an intended change (review the diff)
	UPDATE_GOLDEN=1 bash deploy/check.sh

# A real control plane and node on this machine, built from the Go module proxy (deploy/cluster,
# docs/kubernetes.md "A real cluster on this machine"). The first build takes a long while (the
# API server alone took 28 minutes on this machine's two busy cores), hence not in chart-check.
.PHONY: chart-dryrun cluster-up cluster-smoke cluster-down
chart-dryrun: ## server-side dry run of every profile's render against a real kube-apiserver + etcd
	bash deploy/cluster/dryrun.sh

cluster-up: ## start a one-node Kubernetes cluster here (root; containerd, CNI plugins) with the images imported
	bash deploy/cluster/up.sh && bash deploy/cluster/images.sh

cluster-smoke: ## install the dev profile on it, kill a replica of each service, order to CONFIRMED, check the trace
	bash deploy/cluster/smoke.sh

cluster-down: ## stop the local cluster and remove its bridge, rules and mounts
	bash deploy/cluster/down.sh

# The saga benchmark against a running compose demo (docs/performance-saga.md). Bring the demo up
# first under the compose project BENCH_PROJECT (`docker compose -p tracecart-bench ...`), whose
# containers' CPU and memory it reports, or set BENCH_PROJECT= to skip those. BENCH_FLAGS chooses
# the load, e.g. `make bench-saga BENCH_FLAGS='-rate 200 -duration 20s'`.
BENCH_GATEWAY ?= http://127.0.0.1:8080
BENCH_PROJECT ?= tracecart-bench
BENCH_FLAGS ?= -clients 4 -duration 20s

.PHONY: bench-saga
bench-saga: ## measure the order saga against the running compose demo (BENCH_FLAGS, BENCH_GATEWAY, BENCH_PROJECT)
	go run ./e2e/cmd/sagabench -gateway '$(BENCH_GATEWAY)' -project='$(BENCH_PROJECT)' $(BENCH_FLAGS)

# Fault scenarios for the running demo (docs/walkthroughs): `make scenario` lists them,
# `make scenario NAME=product-slow STATE=on` switches one, `NAME=all STATE=off` every one.
NAME ?=
STATE ?=
.PHONY: scenario
scenario: ## list the fault scenarios, or switch one: NAME=<scenario> STATE=on|off
	@if [ -z "$(NAME)" ]; then go run ./shared/cmd/tracecart-scenario list; \
	else go run ./shared/cmd/tracecart-scenario '$(NAME)' '$(STATE)'; fi
