# The front door. `make` lists the targets; the README's two commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STATE_DIR ?= .vertex-local
PORT ?= 8080
export PYTHONUNBUFFERED := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help venv demo test test-cloud lint lint-workflows format train up down bench-train bench-serve monitor clean

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt trainer/requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed ## create .venv and install the pinned requirements

demo: venv ## the whole pipeline against vertex-local: train, gate, register, deploy, smoke-test (KEEP=1 leaves the server up)
	$(PY) -m scripts.demo $(if $(KEEP),--keep)

test: venv lint ## ruff, hadolint, workflow checks, then every test
	$(PY) -m pytest

test-cloud: venv ## the contract suite against YOUR Google Cloud project (PIPELINE_VERTEX_PROJECT, _REGION, _STAGING_BUCKET)
	CONTRACT_TARGET=gcp $(PY) -m pytest tests/contract

lint: venv ## ruff and hadolint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/hadolint Dockerfile

lint-workflows: venv ## workflow schema, zizmor (offline), hadolint, shellcheck on the bootstrap script
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	$(VENV)/bin/zizmor --offline --persona=pedantic .github/workflows .github/dependabot.yml
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/shellcheck --severity=style scripts/bootstrap_gcp.sh

format: venv ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

train: venv ## train the default model locally (ARGS="--model baseline" to change it)
	$(PY) -m trainer.task $(ARGS)

up: venv ## start vertex-local in the background (PORT=8080, STATE_DIR=.vertex-local; log in STATE_DIR/server.log)
	$(PY) -m vertex_local start --port $(PORT) --state-dir $(STATE_DIR)

down: ## stop the background vertex-local; its state stays in STATE_DIR
	$(PY) -m vertex_local stop --state-dir $(STATE_DIR)

bench-train: venv ## wall time and accuracy: baseline and cnn on mnist-sample, cnn on Fashion-MNIST
	@test -d /usr/share/datasets/fashion-mnist || apt-get install -y -q dataset-fashion-mnist
	$(PY) -m benchmarks.bench_train

# The peer bench-serve compares with: KServe's model server in its own venv, kept between runs (make clean too).
KSERVE_VENV := .venv-kserve
$(KSERVE_VENV)/.installed: benchmarks/requirements-kserve.txt
	@test -x $(KSERVE_VENV)/bin/python || $(PY) -m venv $(KSERVE_VENV)
	$(KSERVE_VENV)/bin/python -m pip install -q -r benchmarks/requirements-kserve.txt
	@touch $@

bench-serve: venv $(KSERVE_VENV)/.installed ## serving figures side by side: the in-process floor, naive Flask, vertex-local and KServe under wrk
	@command -v wrk >/dev/null || apt-get install -y -q wrk || (apt-get update -q && apt-get install -y -q wrk)
	$(PY) -m benchmarks.bench_serve --kserve-python $(KSERVE_VENV)/bin/python

monitor: venv ## live table per deployed model: requests/s, predictions/s, errors, p50/p99 (PORT=8080, ENDPOINT=id)
	$(PY) -m scripts.monitor --url http://127.0.0.1:$(PORT) $(if $(ENDPOINT),--endpoint $(ENDPOINT))

clean: ## remove run outputs and vertex-local state (keeps .venv)
	rm -rf out runs $(STATE_DIR) .bench
