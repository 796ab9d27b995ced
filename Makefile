# The two commands: `make run` and `make test`. Each sets up .venv by itself on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
ARGS ?=
TEST_WORKERS ?= 2
# npm and npx on a supported Node.js (the machine's, or the one pip installed): local/node_tools.py.
NODE_TOOLS := $(BIN)/python -m local.node_tools
NODE_MODULES := node_modules/.package-lock.json

.PHONY: run up aws cli test install clean synth bootstrap deploy cost bench schemas

$(INSTALLED): requirements.txt lambdas/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(INSTALLED)

install: $(INSTALLED)

# The CDK CLI and asl-validator, at the versions package-lock.json pins.
$(NODE_MODULES): package.json package-lock.json $(INSTALLED)
	$(NODE_TOOLS) npm ci --no-audit --no-fund --loglevel=error

run: $(INSTALLED)
	$(BIN)/python -m local.engine.run $(ARGS)

# The local stack until Ctrl-C: an AWS endpoint on 127.0.0.1:4566, the schedules, a console; ARGS="--help" for its options.
up: $(INSTALLED)
	$(BIN)/python -m local.up $(ARGS)

# The AWS CLI from .venv: against the local stack once AWS_ENDPOINT_URL is set (`make up` prints what to set).
aws: $(INSTALLED)
	$(BIN)/aws $(ARGS)

# Start any workflow, list runs, show a timeline or the sync state: locally, or with ARGS="--stack TenderSync ...".
cli: $(INSTALLED)
	$(BIN)/python -m local.cli $(ARGS)

test: $(INSTALLED) $(NODE_MODULES)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

# cdk.out with the bundled Lambda asset (pip, no Docker); fails on any unacknowledged cdk-nag finding.
synth: $(INSTALLED) $(NODE_MODULES)
	$(NODE_TOOLS) npx --no-install cdk synth --quiet $(ARGS)

# Once per account and region: the bucket and roles `cdk deploy` uses.
bootstrap: $(INSTALLED) $(NODE_MODULES)
	$(NODE_TOOLS) npx --no-install cdk bootstrap $(ARGS)

# Deploys to the account and region of your AWS credentials, then prints the stack outputs.
deploy: $(INSTALLED) $(NODE_MODULES)
	$(NODE_TOOLS) npx --no-install cdk deploy --outputs-file cdk.out/outputs.json $(ARGS)

# docs/schemas/: the change events' JSON Schemas, from their Pydantic models.
schemas: $(INSTALLED)
	$(BIN)/python -m local.schemas

cost: $(INSTALLED)
	$(BIN)/python -m local.bench.cost $(ARGS)

# The scale figures of the README's "Performance" section; `make bench SIZE=2000` for a quicker run.
SIZE ?= 10000
bench: $(INSTALLED)
	$(BIN)/python -m local.bench.scale --size $(SIZE) $(ARGS)

clean:
	rm -rf $(VENV) .local cdk.out node_modules
