# The two commands: `make run` and `make test`. Each sets up .venv by itself on first use. `make help` lists the rest.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
ARGS ?=
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup
# npm and npx on a supported Node.js (the machine's, or the one pip installed): local/node_tools.py.
NODE_TOOLS := $(BIN)/python -m local.node_tools
NODE_MODULES := node_modules/.package-lock.json

.PHONY: help run up aws cli migrate test test-unit test-integration test-infra test-e2e lint install clean synth \
	bootstrap deploy cost bench schemas lock

help: ## These targets, one line each
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z0-9-]+):.*## (.*)/  make \1\t\2/' | expand -t 26

$(INSTALLED): requirements.txt lambdas/requirements.in pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	touch $(INSTALLED)

install: $(INSTALLED) ## Set up .venv (every target does it when needed)

# The CDK CLI and asl-validator, at the versions package-lock.json pins.
$(NODE_MODULES): package.json package-lock.json $(INSTALLED)
	$(NODE_TOOLS) npm ci --no-audit --no-fund --loglevel=error

run: $(INSTALLED) ## One real sync on this machine, with a summary (ARGS="--help")
	$(BIN)/python -m local.engine.run $(ARGS)

up: $(INSTALLED) ## The local stack until Ctrl-C: AWS endpoint on 127.0.0.1:4566, schedules, console (ARGS="--help")
	$(BIN)/python -m local.up $(ARGS)

aws: $(INSTALLED) ## The AWS CLI from .venv (against `make up` once AWS_ENDPOINT_URL is set)
	$(BIN)/aws $(ARGS)

cli: $(INSTALLED) ## Start any workflow, list runs, show a timeline or the sync state (ARGS="--stack NAME ...")
	$(BIN)/python -m local.cli $(ARGS)

migrate: $(INSTALLED) ## Apply the schema's migrations as its owner: locally, DATABASE_URL, or ARGS="--stack NAME"
	$(BIN)/python -m local.migrate $(ARGS)

lint: $(INSTALLED) ## ruff check, ruff format --check and mypy (strict on lambdas/ and infra/)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: $(INSTALLED) $(NODE_MODULES) ## The whole suite, as CI runs it
	$(PYTEST)

test-unit: $(INSTALLED) ## Unit tests: seconds, no Node.js, no database
	$(BIN)/python -m pytest -n $(TEST_WORKERS) tests/unit

test-integration: $(INSTALLED) ## Integration tests: a real PostgreSQL and sources on 127.0.0.1
	$(PYTEST) tests/integration

test-infra: $(INSTALLED) $(NODE_MODULES) ## The synthesized template, property by property
	$(PYTEST) tests/infra

test-e2e: $(INSTALLED) $(NODE_MODULES) ## Whole executions in moto's interpreter, make up, the console in Chromium
	$(PYTEST) tests/e2e

synth: $(INSTALLED) $(NODE_MODULES) ## cdk.out with the bundled Lambda asset; fails on an unacknowledged cdk-nag finding
	$(NODE_TOOLS) npx --no-install cdk synth --quiet $(ARGS)

bootstrap: $(INSTALLED) $(NODE_MODULES) ## Once per account and region: the bucket and roles `cdk deploy` uses
	$(NODE_TOOLS) npx --no-install cdk bootstrap $(ARGS)

deploy: $(INSTALLED) $(NODE_MODULES) ## Deploy to your AWS credentials' account and region (migrations run at deploy)
	$(NODE_TOOLS) npx --no-install cdk deploy --outputs-file cdk.out/outputs.json $(ARGS)

lock: $(INSTALLED) ## lambdas/requirements.txt from lambdas/requirements.in: every package of the Lambda asset, hashed
	cd lambdas && ../$(BIN)/uv pip compile requirements.in --universal --python-version 3.12 --generate-hashes \
		--custom-compile-command "make lock" --quiet -o requirements.txt

schemas: $(INSTALLED) ## docs/schemas/: the change events' JSON Schemas, from their Pydantic models
	$(BIN)/python -m local.schemas

cost: $(INSTALLED) ## What a month costs on AWS, for the default profile
	$(BIN)/python -m local.bench.cost $(ARGS)

SIZE ?= 10000
bench: $(INSTALLED) ## The scale figures of docs/performance-and-cost.md (SIZE=2000 for a quicker run)
	$(BIN)/python -m local.bench.scale --size $(SIZE) $(ARGS)

clean: ## Remove .venv, .local, cdk.out and node_modules
	rm -rf $(VENV) .local cdk.out node_modules
