# The lab's commands. `make up` starts the lab, `make test` runs the tests;
# `make help` lists everything.

COMPOSE ?= docker compose
GO ?= go

.DEFAULT_GOAL := help

.PHONY: help up rollout dev down logs ps smoke capture journal load test e2e e2e-matrix proto check bench grpcurl-dispatch grpcurl-event remove-examples gonew

help: ## List the targets.
	@awk -F':.*## ' '/^[a-z0-9-]+:.*## /{printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

up: ## Build and start the lab, wait until every API answers, print how to use it.
	@bash scripts/up.sh

rollout: ## Replace the plugin servers with a fresh build, one replica at a time, failing no request.
	@bash scripts/rollout.sh

dev: ## The lab with the plugin server on the host, rebuilt and restarted on every save (Ctrl-C ends it).
	@bash scripts/dev.sh

down: ## Stop the lab and remove its containers, volumes and orphans.
	$(COMPOSE) down --volumes --remove-orphans

logs: ## Follow the logs of every service.
	$(COMPOSE) logs --follow --tail=100

ps: ## Show the lab's services and their health.
	$(COMPOSE) ps --all

smoke: ## Call each API once and show the dispatches the plugin server received.
	@bash scripts/smoke.sh

capture: ## Write what the gateway sent (last N=100 dispatches, ID=prefix*) to plugin-server/plugin/testdata/captures/ for plugintest.
	@bash scripts/capture.sh

journal: ## Print the last 20 journal records (what the plugin server received).
	$(COMPOSE) exec -T plugin-server /plugin-server journal -n 20

load: ## Reload apis/ into the running gateway (after you edit or add a definition).
	$(COMPOSE) restart api-loader
	$(COMPOSE) up --wait api-loader
	@bash scripts/wait-apis.sh

test: ## Run every test (the e2e suite skips, saying why, without Docker or the gateway image).
	$(GO) test ./...

# The suite tears its lab down itself; the down below also removes it after
# a crash or a -timeout panic. It names only this run's project (never
# tyk-grpc-lab, nor another run's), then exits with the suite's status.
e2e: ## Run the e2e suite against its own copy of the lab; fails if it cannot run.
	@project=lab-e2e-make-$$$$; rc=0; \
	E2E_REQUIRE=1 E2E_PROJECT=$$project $(GO) test -count=1 -v -timeout 25m ./e2e || rc=$$?; \
	$(COMPOSE) -p $$project down --volumes --remove-orphans >/dev/null 2>&1 || true; \
	exit $$rc

e2e-matrix: ## Run the e2e suite once per gateway line (E2E_GATEWAY_IMAGES in .env) and print a compatibility table.
	$(GO) run ./e2e/matrix

proto: ## Regenerate coprocess/*.pb.go from coprocess/*.proto with the generators pinned in go.mod.
	@bash scripts/proto.sh generate

check: ## Formatting, go vet, and freshness of the generated code.
	@bash scripts/check.sh

bench: ## Benchmarks: plugin server vs a bare echo; gateway with vs without plugins if the lab is up.
	@bash scripts/bench.sh

grpcurl-dispatch: ## Send the classic Pre Dispatch (basic auth sample) to the plugin server with grpcurl.
	@bash scripts/grpcurl-dispatch.sh

grpcurl-event: ## Send the classic DispatchEvent ({"event": "test"}) with grpcurl.
	@bash scripts/grpcurl-event.sh

remove-examples: ## Delete the lab's examples (plugin-server/examples, their APIs and e2e tests); your hooks, the SDK and the lab stay.
	@bash scripts/remove-examples.sh

# A repository of your own from this checkout: the lab under your module
# path (gonew, pinned in go.mod, from a file-system GOPROXY: works offline).
gonew: ## Start your own plugin repository from this lab: make gonew MODULE=example.com/you/yourplugin DEST=../yourplugin
	@test -n "$(MODULE)" -a -n "$(DEST)" || { echo "usage: make gonew MODULE=example.com/you/yourplugin DEST=../yourplugin" >&2; exit 2; }
	$(GO) run ./plugin-server/internal/devtools/template -module "$(MODULE)" -dest "$(DEST)"
