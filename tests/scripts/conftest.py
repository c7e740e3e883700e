"""The pipeline steps against the session's real vertex-local, configured as users do: PIPELINE_* variables.

pipeline_env   session: the local profile pointed at the session's server, tiny training, GitHub vars unset
step           run one step's main(argv) in-process; returns its exit status, stdout and stderr
names          per test: a model and an endpoint display name of its own
run_a, run_b   session: two real training runs (JobService), baseline 3 epochs on mnist-sample
bad_run        session: a run that learnt nothing (learning rate 1e-7), to fail smoke tests
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from pipeline_config import load_config
from scripts import register, registry, submit_training
from scripts.cloud import read_json, storage_client
from tests.conftest import VertexLocal

SHA_A = "a" * 40
SHA_B = "b" * 40
SHA_BAD = "0badbad" + "0" * 33
GITHUB_VARIABLES = ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_SHA", "GITHUB_RUN_ID")
SMOKE_LATENCY_BUDGET_MS = 30_000.0


@dataclasses.dataclass(frozen=True)
class StepRun:
    status: int
    stdout: str
    stderr: str


@dataclasses.dataclass(frozen=True)
class TrainedRun:
    git_sha: str
    model_dir: str
    accuracy: float


@dataclasses.dataclass(frozen=True)
class Names:
    model: str
    endpoint: str


def step(main: Callable[[Sequence[str] | None], int], *argv: str) -> StepRun:
    """Call a step's main() as `python -m scripts.<step>` would, capturing what it prints."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return StepRun(status, out.getvalue(), err.getvalue())


def set_names(patch: pytest.MonkeyPatch, prefix: str) -> Names:
    suffix = uuid.uuid4().hex[:8]
    names = Names(f"{prefix}-{suffix}", f"{prefix}-endpoint-{suffix}")
    patch.setenv("PIPELINE_VERTEX_MODEL_DISPLAY_NAME", names.model)
    patch.setenv("PIPELINE_VERTEX_ENDPOINT_DISPLAY_NAME", names.endpoint)
    return names


@pytest.fixture(scope="session")
def pipeline_env(vertex_local: VertexLocal) -> Iterator[VertexLocal]:
    patch = pytest.MonkeyPatch()
    for name in [*GITHUB_VARIABLES, *(key for key in os.environ if key.startswith("PIPELINE_"))]:
        patch.delenv(name, raising=False)
    settings = {
        "PROFILE": "local",
        "VERTEX_PROJECT": vertex_local.project,
        "VERTEX_STAGING_BUCKET": f"gs://{vertex_local.bucket}",
        "VERTEX_API_ENDPOINT": vertex_local.url,
        "VERTEX_STORAGE_EMULATOR_HOST": vertex_local.url,
        "VERTEX_CREDENTIALS": "anonymous",
        "VERTEX_JOB_POLL_SECONDS": "0.2",
        "TRAINING_DATASET": "mnist-sample",
        "TRAINING_MODEL": "baseline",
        "TRAINING_EPOCHS": "3",
        "TRAINING_BATCH_SIZE": "32",
        "TRAINING_LEARNING_RATE": "0.001",
        "GATE_MIN_ACCURACY": "0.8",  # baseline, 3 epochs on 4,000 digits: about 0.9
        "SMOKE_MIN_ACCURACY": "0.8",
        # The steps' logic is under test, not this machine's speed: a busy 2-core runner answers a predict
        # in over 500 ms (the real budget). The budget check itself is test_probe's table.
        "SMOKE_P95_LATENCY_MS": str(SMOKE_LATENCY_BUDGET_MS),
    }
    for key, value in settings.items():
        patch.setenv(f"PIPELINE_{key}", value)
    patch.setenv("STORAGE_EMULATOR_HOST", vertex_local.url)  # connect() exports it; undo restores it
    yield vertex_local
    patch.undo()


@pytest.fixture
def names(pipeline_env: VertexLocal, monkeypatch: pytest.MonkeyPatch, unique_name: str) -> Names:
    return set_names(monkeypatch, unique_name[:30].rstrip("-"))


def train(out_dir: str, git_sha: str) -> TrainedRun:
    """One real CustomJob through submit_training; fails the fixture with the step's own words."""
    run = step(submit_training.main, "--git-sha", git_sha, "--out-dir", out_dir)
    assert run.status == 0, run.stderr
    model_dir = json.loads((Path(out_dir) / "submit_training.json").read_text())["model_dir"]
    metrics = read_json(f"{model_dir}/metrics.json", storage_client(load_config()))
    return TrainedRun(git_sha, model_dir, metrics["accuracy"])


@pytest.fixture(scope="session")
def run_a(pipeline_env: VertexLocal, tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    return train(str(tmp_path_factory.mktemp("run-a")), SHA_A)


@pytest.fixture(scope="session")
def run_b(pipeline_env: VertexLocal, tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIPELINE_TRAINING_EPOCHS", "4")  # a challenger: one epoch more, same data and seed
        return train(str(tmp_path_factory.mktemp("run-b")), SHA_B)


@pytest.fixture(scope="session")
def bad_run(pipeline_env: VertexLocal, tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIPELINE_TRAINING_EPOCHS", "1")
        patch.setenv("PIPELINE_TRAINING_LEARNING_RATE", "1e-7")  # too small to move the random weights
        run = train(str(tmp_path_factory.mktemp("run-bad")), SHA_BAD)
    assert run.accuracy < 0.5, f"the deliberately untrained model scored {run.accuracy}"
    return run


@dataclasses.dataclass(frozen=True)
class EndpointState:
    traffic: dict[str, int]
    versions: dict[str, str]  # deployed model id -> model version id
    production: str | None  # the version holding the production alias


def endpoint_state(names: Names) -> EndpointState:
    endpoint = registry.find_endpoint(names.endpoint)
    production = registry.production_version(names.model)
    if endpoint is None:
        return EndpointState({}, {}, production.version_id if production else None)
    versions = {d.id: d.model_version_id for d in endpoint.list_models()}
    return EndpointState(endpoint.traffic_split, versions, production.version_id if production else None)


def register_run(run: TrainedRun, out_dir: str) -> StepRun:
    result = step(register.main, "--model-dir", run.model_dir, "--git-sha", run.git_sha, "--out-dir", out_dir)
    assert result.status == 0, result.stderr
    return result
