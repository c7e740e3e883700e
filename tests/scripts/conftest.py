"""The pipeline steps against the session's real vertex-local, configured as users do: PIPELINE_* variables.

pipeline_env   session: the local profile pointed at the session's server, tiny training, GitHub vars unset
step           run one step's main(argv) in-process; returns its exit status, stdout and stderr
names          per test: a model and an endpoint display name of its own
run_a, run_b   session: two real training runs (JobService), baseline 3 epochs on mnist-sample
bad_run        session: a run that learnt nothing (learning rate 1e-7), to fail smoke tests
one_epoch_run, two_epoch_run, no_three_run
               session: the real trainer in a subprocess, local model dirs: run_a's settings with 1 or 2 epochs,
               and with the training digits of class 3 left out (an .npz built from the sample)
promote        register a run as a new version of the test's model and give it the production alias
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

import numpy as np
import pytest

from pipeline_config import load_config
from scripts import gate, register, submit_training
from scripts.core import registry
from scripts.core.cloud import read_json, storage_client
from tests.conftest import VertexLocal, free_port, train_in_subprocess
from tests.support import tiers
from tests.support.once import built_once
from trainer.data import load_mnist_sample

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


# Trained by CustomJobs on a worker's own session server, so not shareable between workers (tests/support/once.py): the
# tests that use them run on one worker (`make test` runs pytest-xdist with --dist loadgroup).
SERVER_RUNS = frozenset({"run_a", "run_b", "bad_run"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_RUNS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("server-runs"))


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


def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local profile aimed at a closed port: a usage or config error must stop the step before any call."""
    for name in [key for key in os.environ if key.startswith(("PIPELINE_", "GITHUB_"))]:
        monkeypatch.delenv(name)
    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("PIPELINE_VERTEX_API_ENDPOINT", closed)
    monkeypatch.setenv("PIPELINE_VERTEX_STORAGE_EMULATOR_HOST", closed)


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
@tiers.slow
def run_a(pipeline_env: VertexLocal, tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    return train(str(tmp_path_factory.mktemp("run-a")), SHA_A)


@pytest.fixture(scope="session")
@tiers.slow
def run_b(pipeline_env: VertexLocal, tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIPELINE_TRAINING_EPOCHS", "4")  # a challenger: one epoch more, same data and seed
        return train(str(tmp_path_factory.mktemp("run-b")), SHA_B)


@pytest.fixture(scope="session")
@tiers.slow
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


def promote(run: TrainedRun, names: Names, out_dir: str) -> str:
    """Register the run as a new version of the test's model and move the production alias to it."""
    register_run(run, out_dir)
    written = json.loads((Path(out_dir) / "register.json").read_text())
    model = registry.find_model(names.model)
    registry.move_alias(registry.get_version(model.resource_name, written["version_id"]), registry.PRODUCTION)
    return written["version_id"]


def train_locally(model_dir: Path, git_sha: str, *flags: str) -> TrainedRun:
    """The real trainer in a subprocess with run_a's settings (baseline, batch 32, seed 42) and these flags."""
    settings = ("--model", "baseline", "--batch-size", "32", "--learning-rate", "0.001", "--seed", "42")
    train_in_subprocess(model_dir, *settings, "--git-sha", git_sha, *flags)
    return TrainedRun(git_sha, str(model_dir), json.loads((model_dir / "metrics.json").read_text())["accuracy"])


def trained_once(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    git_sha: str,
    *flags: str,
    data: Callable[[Path], None] | None = None,
) -> TrainedRun:
    """`train_locally` once per test run, whichever worker asks first (tests/support/once.py); `data` writes the .npz
    it trains on (--data-path) first."""

    def build(folder: Path) -> None:
        if data is not None:
            data(folder / f"{name}.npz")
        extra = ("--data-path", str(folder / f"{name}.npz")) if data is not None else ()
        train_locally(folder / "model", git_sha, *flags, *extra)

    folder = built_once(tmp_path_factory, name, build)
    accuracy = json.loads((folder / "model" / "metrics.json").read_text())["accuracy"]
    return TrainedRun(git_sha, str(folder / "model"), accuracy)


@pytest.fixture(scope="session")
@tiers.slow
def one_epoch_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    return trained_once(tmp_path_factory, "one-epoch", "1" * 40, "--dataset", "mnist-sample", "--epochs", "1")


@pytest.fixture(scope="session")
@tiers.slow
def two_epoch_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    return trained_once(tmp_path_factory, "two-epochs", "2" * 40, "--dataset", "mnist-sample", "--epochs", "2")


@pytest.fixture(scope="session")
@tiers.slow
def no_three_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """Trained on the sample's training split without any 3; tested on the sample's whole test split."""
    return trained_once(tmp_path_factory, "no-three", "3" * 40, "--epochs", "3", data=without_threes)


def without_threes(data: Path) -> None:
    """The sample with no 3 in its training split, as an .npz the trainer's --data-path reads."""
    (x_train, y_train), (x_test, y_test) = load_mnist_sample(42)
    keep = y_train != 3
    pixels = {"x_train": x_train[keep].astype(np.uint8), "x_test": x_test.astype(np.uint8)}
    np.savez_compressed(data, **pixels, y_train=y_train[keep], y_test=y_test)


def gate_run(names: Names, model_dir: str, out_dir: Path, *flags: str) -> tuple[StepRun, dict | None]:
    """The gate step on a model dir against the production of `names`' model; its gate.json when it wrote one."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIPELINE_VERTEX_MODEL_DISPLAY_NAME", names.model)
        result = step(gate.main, "--model-dir", model_dir, "--out-dir", str(out_dir), *flags)
    written = out_dir / "gate.json"
    return result, json.loads(written.read_text()) if written.exists() else None


@pytest.fixture(scope="session")
def production_a(pipeline_env: VertexLocal, run_a: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> Names:
    """A model of its own whose production version is run_a (baseline, 3 epochs)."""
    with pytest.MonkeyPatch.context() as patch:
        names = set_names(patch, "production-a")
        promote(run_a, names, str(tmp_path_factory.mktemp("production-a")))
    return names


@pytest.fixture(scope="session")
def paired_gate(
    production_a: Names, one_epoch_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory
) -> tuple[StepRun, Path]:
    """The gate on a 1-epoch candidate against run_a in production: a significant drop, and its out dir."""
    out_dir = tmp_path_factory.mktemp("paired-gate")
    result, _ = gate_run(production_a, one_epoch_run.model_dir, out_dir)
    return result, out_dir
