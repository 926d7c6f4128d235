# Every target installs what it needs from the lock files (uv.lock, package-lock.json) and never
# resolves afresh, so each works on a fresh clone. `make lock` is the only way versions move.
PYTHON     ?= python3
UV_VERSION := 0.13.9
TOOLS      := .tools
UV         := $(TOOLS)/bin/uv
VENV       := .venv
BIN        := $(VENV)/bin
PY_STAMP   := $(VENV)/.synced-from-uv.lock
JS_STAMP   := node_modules/.installed-from-package-lock
CONSOLE    := clients/console/dist/index.html
CONSOLE_SRC := $(shell find clients/js/src clients/console/src -type f) clients/console/index.html clients/console/build.mjs
export UV_PROJECT_ENVIRONMENT := $(VENV)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION ?= 20

.PHONY: demo up test pytest lint format generate bench bench-publish lock setup clean

$(UV):
	@echo "==> bootstrapping uv $(UV_VERSION) into $(TOOLS)/ (one time)"
	@$(PYTHON) -m venv $(TOOLS)
	@PIP_FIND_LINKS= $(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(PY_STAMP): $(UV) pyproject.toml uv.lock
	@echo "==> installing Python dependencies from uv.lock into $(VENV)/"
	@$(UV) sync --locked --quiet --python $(PYTHON)
	@touch $@

$(JS_STAMP): package.json package-lock.json
	@echo "==> installing Node dependencies from package-lock.json (npm ci)"
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The web console bundles the TypeScript client's build (clients/js/dist) with esbuild.
$(CONSOLE): $(JS_STAMP) $(CONSOLE_SRC)
	@echo "==> building the TypeScript client and the web console (clients/console/dist)"
	@npm run build --silent -w clients/js
	@npm run build --silent -w clients/console

setup: $(PY_STAMP) $(JS_STAMP) $(CONSOLE)  ## install everything from the lock files, build the console

demo: $(PY_STAMP)  ## start the local stack, stream one answer live, stop
	$(BIN)/tokencast demo

up: setup          ## run the local stack (and its web console) until Ctrl-C
	$(BIN)/tokencast up $(ARGS)

test: lint pytest  ## what CI runs: lint and types, then the whole suite

pytest: setup      ## the suite: unit, end-to-end on the local stack, infrastructure
	@echo "==> pytest"
	$(BIN)/pytest -q $(ARGS)

lint: setup        ## ruff (lint + format check), mypy, AppSync's ESLint rules, tsc on the TypeScript client and console
	@echo "==> ruff"
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@echo "==> mypy"
	@$(BIN)/mypy
	@echo "==> eslint (@aws-appsync/eslint-plugin)"
	@npx --no-install eslint graphql/resolvers examples
	@echo "==> tsc --noEmit (clients/js, strict)"
	@npx --no-install tsc -p clients/js --noEmit
	@echo "==> tsc --noEmit (clients/console, strict)"
	@npx --no-install tsc -p clients/console --noEmit

format: setup      ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The TypeScript client's wire module (enums, types, selections, documents) comes from the
# Python side; tests/unit/test_codegen_typescript.py fails while the committed file is stale.
generate: $(PY_STAMP)  ## regenerate clients/js/src/wire.generated.ts from tokencast/core/models.py and the SDK
	$(BIN)/python -m tokencast.codegen.typescript

bench: $(PY_STAMP)  ## the pipeline end to end (ARGS=--quick: about a minute)
	$(BIN)/python bench/pipeline.py $(ARGS)

bench-publish: $(PY_STAMP)  ## publishing alone, per-token vs coalesced, no storage
	$(BIN)/python bench/publish.py $(ARGS)

lock: $(UV)        ## move every pin to the newest allowed version; then `make test` is the gate
	$(UV) lock --upgrade
	$(UV) export --frozen --only-group lambda --no-emit-project --quiet \
		--output-file cdk/lambda-requirements.txt
	npm install --no-audit --no-fund
	@echo "==> locks refreshed; run make test before committing"

clean:
	rm -rf $(VENV) $(TOOLS) node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache clients/console/dist
