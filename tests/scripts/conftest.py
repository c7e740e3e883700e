"""The pipeline steps against the session's real vertex-local, configured as users do: PIPELINE_* variables.

pipeline_env   session: the local profile pointed at the session's server, tiny training, GitHub vars unset
names          per test: a model and an endpoint display name of its own
run_a          session: a real training run (JobService), baseline 3 epochs on mnist-sample
run_b          session: what such a job trains with 4 epochs, trained locally and staged in the bucket
bad_run        session: a run that learnt nothing (learning rate 1e-7), to fail smoke tests, staged in the bucket
one_epoch_run, two_epoch_run, no_three_run
               session: the real trainer, local model dirs: run_a's settings with 1 or 2 epochs, and with the
               training digits of class 3 left out (an .npz built from the sample); trained together, once per run
production_a   session: a model of its own whose production version is run_a
paired_gate    session: the gate on one_epoch_run against production_a

step(), promote(), gate_run() and the rest of what these tests share are in tests/support/pipeline_steps.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import tiers
from tests.support.pipeline_steps import (
    GITHUB_VARIABLES,
    SHA_A,
    SHA_B,
    SHA_BAD,
    SMOKE_LATENCY_BUDGET_MS,
    LocalRun,
    Names,
    StepRun,
    TrainedRun,
    gate_run,
    promote,
    set_names,
    train,
    trained_together,
    without_threes,
)
from tests.support.vertex_local_server import VertexLocal


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


@pytest.fixture(scope="session")
@tiers.slow
def run_a(pipeline_env: VertexLocal, tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    return train(str(tmp_path_factory.mktemp("run-a")), SHA_A)


@pytest.fixture(scope="session")
@tiers.slow
def run_b(pipeline_env: VertexLocal, tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """What a job with PIPELINE_TRAINING_EPOCHS=4 trains (a challenger: one epoch more than run_a, same data and
    seed), trained with the local runs and staged in the session's bucket as a job leaves it (see bad_run)."""
    return staged(pipeline_env, local_run(tmp_path_factory, "challenger"))


@pytest.fixture(scope="session")
@tiers.slow
def bad_run(pipeline_env: VertexLocal, tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """What a job with PIPELINE_TRAINING_EPOCHS=1 and _LEARNING_RATE=1e-7 trains (the trainer's flags the training
    step would give it), trained with the local runs and staged in the session's bucket as a job leaves it: the
    tests gate, register and deploy it; the training step's job itself is run_a's (test_submit_training.py)."""
    run = staged(pipeline_env, local_run(tmp_path_factory, "learnt-nothing"))
    assert run.accuracy < 0.5, f"the deliberately untrained model scored {run.accuracy}"
    return run


# The local runs: a full run of the suite uses all of them, so the first to be asked for trains all of them
# from one import of TensorFlow (trained_together), instead of a `python -m trainer.task` each.
LOCAL_RUNS = (
    LocalRun("one-epoch", "1" * 40, ("--dataset", "mnist-sample", "--epochs", "1")),
    LocalRun("two-epochs", "2" * 40, ("--dataset", "mnist-sample", "--epochs", "2")),
    # Trained on the sample's training split without any 3; tested on the sample's whole test split.
    LocalRun("no-three", "3" * 40, ("--epochs", "3"), data=without_threes),
    # run_b's and bad_run's: pipeline_env's settings with 4 epochs, and with one epoch at a learning rate too small
    # to move the random weights.
    LocalRun("challenger", SHA_B, ("--dataset", "mnist-sample", "--epochs", "4")),
    LocalRun("learnt-nothing", SHA_BAD, ("--dataset", "mnist-sample", "--epochs", "1", "--learning-rate", "1e-7")),
)


def local_run(tmp_path_factory: pytest.TempPathFactory, name: str) -> TrainedRun:
    return trained_together(tmp_path_factory, "scripts-local-runs", LOCAL_RUNS)[name]


def staged(server: VertexLocal, run: TrainedRun) -> TrainedRun:
    """A local run's model copied to gs://<bucket>/<its name>/model on the worker's session server."""
    model_dir = server.stage_model(Path(run.model_dir), Path(run.model_dir).parent.name)
    return TrainedRun(run.git_sha, model_dir, run.accuracy)


@pytest.fixture(scope="session")
@tiers.slow
def one_epoch_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    return local_run(tmp_path_factory, "one-epoch")


@pytest.fixture(scope="session")
@tiers.slow
def two_epoch_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    return local_run(tmp_path_factory, "two-epochs")


@pytest.fixture(scope="session")
@tiers.slow
def no_three_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """Trained on the sample's training split without any 3; tested on the sample's whole test split."""
    return local_run(tmp_path_factory, "no-three")


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
