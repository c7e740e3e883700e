"""Running the pipeline steps in-process, as `python -m scripts.<step>` would: step() and its StepRun, the names a
test's model and endpoint get, the runs the scripts fixtures train (TrainedRun), and the register / promote / gate
calls several tests share. offline() aims the local profile at a closed port."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from pipeline_config import load_config
from scripts import gate, register, submit_training
from scripts.core import registry
from scripts.core.cloud import read_json, storage_client
from tests.support.once import built_once
from tests.support.training import train_forked
from tests.support.vertex_local_server import free_port
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


def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local profile aimed at a closed port: a usage or config error must stop the step before any call."""
    for name in [key for key in os.environ if key.startswith(("PIPELINE_", "GITHUB_"))]:
        monkeypatch.delenv(name)
    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("PIPELINE_VERTEX_API_ENDPOINT", closed)
    monkeypatch.setenv("PIPELINE_VERTEX_STORAGE_EMULATOR_HOST", closed)


def train(out_dir: str, git_sha: str) -> TrainedRun:
    """One real CustomJob through submit_training; fails the fixture with the step's own words."""
    run = step(submit_training.main, "--git-sha", git_sha, "--out-dir", out_dir)
    assert run.status == 0, run.stderr
    model_dir = json.loads((Path(out_dir) / "submit_training.json").read_text())["model_dir"]
    metrics = read_json(f"{model_dir}/metrics.json", storage_client(load_config()))
    return TrainedRun(git_sha, model_dir, metrics["accuracy"])


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


LOCAL_SETTINGS = ("--model", "baseline", "--batch-size", "32", "--learning-rate", "0.001", "--seed", "42")


@dataclasses.dataclass(frozen=True)
class LocalRun:
    """One run for trained_together: the real trainer with LOCAL_SETTINGS (run_a's: baseline, batch 32, seed 42),
    this git SHA and these flags, on the .npz `data` writes (--data-path) when given."""

    name: str
    git_sha: str
    flags: tuple[str, ...]
    data: Callable[[Path], None] | None = None


def trained_together(
    tmp_path_factory: pytest.TempPathFactory, group: str, runs: Sequence[LocalRun]
) -> dict[str, TrainedRun]:
    """Each run, built together once per test run (under `group`'s lock, tests/support/once.py) the first time any
    worker asks for one of them: one process imports TensorFlow once and forks a trainer per run (train_forked)."""

    def build(folder: Path) -> None:
        planned = []
        for run in runs:
            extra: tuple[str, ...] = ()
            if run.data is not None:
                run.data(folder / f"{run.name}.npz")
                extra = ("--data-path", str(folder / f"{run.name}.npz"))
            planned.append(
                (folder / run.name / "model", (*LOCAL_SETTINGS, "--git-sha", run.git_sha, *run.flags, *extra))
            )
        train_forked(planned)

    folder = built_once(tmp_path_factory, group, build)
    trained = {}
    for run in runs:
        model_dir = folder / run.name / "model"
        accuracy = json.loads((model_dir / "metrics.json").read_text())["accuracy"]
        trained[run.name] = TrainedRun(run.git_sha, str(model_dir), accuracy)
    return trained


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
