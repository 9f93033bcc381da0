# The same task names for people, hooks and CI. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PROJECT ?= $(shell $(BIN)/mlops project default 2>/dev/null || echo churn)  # the only project, else churn
OVERLAY ?= kind
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.synced
export UV_PYTHON_DOWNLOADS := never
# Vendor telemetry stays off unless you opt in with MLOPS_TELEMETRY=true (the code honours the same switch).
export MLOPS_TELEMETRY ?= false
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: help setup run test test-fast lint fmt typecheck bench bench-serving clean clean-state images stack-up stack-down \
	k8s-render k8s-check screenshots new-project

help: ## List every target with one line each
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml uv.lock infra/scripts/bootstrap.sh
	@PYTHON=$(PYTHON) VENV=$(VENV) bash infra/scripts/bootstrap.sh
	@touch $@

setup: $(STAMP) ## Create ./.venv and install the locked dependencies (run/test do this for you)

run: $(STAMP) ## Run the whole loop for PROJECT (default: the only project, else churn) with local defaults
	$(BIN)/mlops run --project $(PROJECT)

test: $(STAMP) ## Run every test suite (unit, data, model, integration, e2e, containers) with coverage
	$(BIN)/pytest --cov --cov-report=term $(PYTEST_ARGS)

test-fast: $(STAMP) ## Unit, data and model tests: no server, no network, no slow test
	$(BIN)/pytest -m "not slow and not integration and not e2e and not container and not network" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff lint + format check, mypy on the packages, import contracts (dependency direction)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(STAMP) ## Format and auto-fix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP) ## Run the benchmarks and write docs/benchmarks.md
	$(BIN)/python -m tests.benchmarks $(BENCH_ARGS)

images: ## Build the serving, jobs and mlflow-server images (tags from the git revision; BASE_IMAGE=...)
	bash infra/scripts/build-images.sh

stack-up: ## Start the compose stack: MLflow + PostgreSQL + SeaweedFS (S3) + the service (infra/compose)
	bash infra/scripts/stack.sh up

stack-down: ## Stop the compose stack (data volumes kept; `bash infra/scripts/stack.sh down -v` deletes them)
	bash infra/scripts/stack.sh down

k8s-render: $(STAMP) ## Render the Kubernetes manifests of OVERLAY (kind, production) into build/k8s
	$(BIN)/python k8s/render.py --overlay $(OVERLAY) --out build/k8s

k8s-check: $(STAMP) ## Offline manifest checks: render, kubernetes-validate --strict, checkov, cross-checks
	$(BIN)/pytest tests/k8s -q

# --- kind: the platform on a local cluster (infra/scripts/deploy.py; docs/deploy.md) ---
.PHONY: deploy deploy-plan undeploy cluster-down drift-demo
DEPLOY := $(BIN)/python infra/scripts/deploy.py

deploy: $(STAMP) ## Deploy the platform and PROJECT on a local kind cluster (needs: docker, kind, kubectl)
	$(DEPLOY) deploy --project $(PROJECT)

deploy-plan: $(STAMP) ## Print every command `make deploy` would run, in order, touching nothing
	$(DEPLOY) deploy --project $(PROJECT) --dry-run

undeploy: $(STAMP) ## Remove PROJECT from the kind cluster (the platform, other projects and the data stay)
	$(DEPLOY) undeploy --project $(PROJECT)

cluster-down: $(STAMP) ## Delete the kind cluster (images stay on the host)
	$(DEPLOY) cluster-down

drift-demo: $(STAMP) ## In the cluster: drifted data and traffic -> monitor -> retrain Job -> new version served
	$(DEPLOY) drift-demo --project $(PROJECT)

new-project: $(STAMP) ## A new project from the template: NAME=fraud [DATA=./batches] [TARGET=col] [TASK=classification|regression]
	$(if $(NAME),,$(error NAME is required: make new-project NAME=fraud [DATA=./my-batches] [TARGET=is_fraud]))
	$(BIN)/mlops project new $(NAME) $(if $(TASK),--task $(TASK)) $(if $(DATA),--data $(DATA)) \
		$(if $(TARGET),--target $(TARGET))

screenshots: $(STAMP) ## Screenshots of the overview, a model card and the drift page from a real run (docs/images)
	$(BIN)/python -m tests.screenshots

bench-serving: $(STAMP) ## Serving benchmark only: BentoML vs bare FastAPI vs in-process (wrk pinned to one core)
	$(BIN)/python -m tests.benchmarks serving

clean: ## Remove build outputs and caches (keeps ./.venv and MLOPS_HOME)
	rm -rf build dist .pytest_cache .ruff_cache .mypy_cache .coverage .coverage.* htmlcov
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +

clean-state: ## Delete MLOPS_HOME (default ./.mlops): data, MLflow database, reports, locks
	rm -rf "$${MLOPS_HOME:-.mlops}"
