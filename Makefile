# The two commands: `make demo` and `make test`. Both install what is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NODE_BIN := node_modules/.bin

.PHONY: help setup build lint typecheck test test-unit test-integration demo bench-pgbench bench-policy bench-rollout bench-revocation bench-driver-suite bench-hardening bench-fleet bench-idle bench-lifecycle clean

help:
	@echo "make demo   start the whole stack locally and print psql commands"
	@echo "make test   install what is missing, then lint, typecheck, unit and integration tests"

setup:
	@scripts/setup.sh

build: setup
	@$(NODE_BIN)/tsc -p tsconfig.json
	@$(NODE_BIN)/tsc -p control-plane/console/web/tsconfig.json
	@$(NODE_BIN)/vite build --config control-plane/console/web/vite.config.ts

lint: setup
	@$(NODE_BIN)/biome check .

typecheck: build

test-unit: build
	@$(NODE_BIN)/vitest run --project unit

test-integration: build
	@$(NODE_BIN)/vitest run --project integration

test: setup lint build
	@status=0; $(NODE_BIN)/vitest run --reporter=default --reporter=json --outputFile=.portcullis/test-results.json || status=$$?; \
	node scripts/test-summary.mjs .portcullis/test-results.json || status=1; exit $$status

demo: build
	@node dist/cli/portcullis.js demo

# A static pattern rule: make skips implicit (bench-%) rules for .PHONY targets.
BENCHES := bench-idle bench-lifecycle bench-pgbench bench-policy bench-rollout bench-revocation bench-driver-suite bench-hardening bench-fleet
$(BENCHES): bench-%: build
	@node dist/bench/$*.js

clean:
	rm -rf dist .portcullis/demo
