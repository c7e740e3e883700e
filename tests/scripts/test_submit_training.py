"""scripts/submit_training.py: the job spec it builds, and real JobService on vertex-local."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
from pathlib import Path

import pytest
from google.cloud import aiplatform

from pipeline_config import ConfigError, Training, load_config
from scripts import submit_training
from scripts.core import cloud
from scripts.core.step import run_main
from tests.support import tiers
from tests.support.pipeline_steps import SHA_A, Names, StepRun, TrainedRun, step

IMAGE = "us-central1-docker.pkg.dev/p/mlops/mnist-trainer:abc"


def config_with(**vertex: object):
    cfg = load_config("local", {})
    return dataclasses.replace(cfg, vertex=dataclasses.replace(cfg.vertex, **vertex))


@pytest.mark.parametrize(
    ("vertex", "pools", "machine"),
    [
        ({}, [1], {"machine_type": "n1-standard-4"}),
        (
            {"accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": 0},
            [1],
            {"machine_type": "n1-standard-4"},
        ),
        (
            {"accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": 2},
            [1],
            {"machine_type": "n1-standard-4", "accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": 2},
        ),
        (
            {"training_replica_count": 3, "training_machine_type": "n1-highmem-8"},
            [1, 2],
            {"machine_type": "n1-highmem-8"},
        ),
    ],
)
def test_worker_pools_put_the_chief_alone_in_pool_0(vertex: dict, pools: list[int], machine: dict) -> None:
    specs = submit_training.worker_pool_specs(config_with(**vertex), IMAGE, ["--epochs=1"])
    assert [spec["replica_count"] for spec in specs] == pools
    for spec in specs:
        assert spec["machine_spec"] == machine
        assert spec["container_spec"] == {
            "image_uri": IMAGE,
            "command": ["python", "-m", "trainer.task"],
            "args": ["--epochs=1"],
        }


def test_zero_training_replicas_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="training_replica_count = 0"):
        submit_training.worker_pool_specs(config_with(training_replica_count=0), IMAGE, [])


def test_trainer_args_carry_every_training_value_and_the_sha() -> None:
    """trainer.task's own parser reads back every field of [training], so none is left to the image's defaults."""
    from trainer.task import build_parser  # the job's entrypoint; importing it loads TensorFlow

    cfg = load_config("local", {})
    unusual = {"dataset": "fashion-mnist", "model": "cnn", "epochs": 7, "batch_size": 96}
    unusual.update(learning_rate=0.0123, seed=1234)
    assert set(unusual) == {field.name for field in dataclasses.fields(Training)}, "a new field needs a value here"
    cfg = dataclasses.replace(cfg, training=Training(**unusual))
    args = submit_training.trainer_args(cfg, SHA_A)
    parsed = build_parser().parse_args(args)
    for field in dataclasses.fields(Training):
        assert getattr(parsed, field.name) == getattr(cfg.training, field.name), field.name
    assert parsed.git_sha == SHA_A and parsed.task == "mnist"
    assert len(args) == len(dataclasses.fields(Training)) + 2  # one flag each, the task and the sha, nothing else


def test_trainer_args_name_the_task_and_resolve_its_dataset_model_and_model_defaults() -> None:
    from trainer.task import build_parser

    cfg = load_config("local", {"PIPELINE_TASK_NAME": "wine"})  # dataset "sample", model "default"
    parsed = build_parser().parse_args(submit_training.trainer_args(cfg, SHA_A))
    assert (parsed.task, parsed.dataset, parsed.model) == ("wine", "wine", "mlp")
    assert (parsed.epochs, parsed.batch_size, parsed.learning_rate) == (60, 16, 0.01)  # tasks/wine.py's mlp


def test_a_pipeline_training_variable_wins_over_the_models_own_default() -> None:
    from trainer.task import build_parser

    environ = {"PIPELINE_TASK_NAME": "wine", "PIPELINE_TRAINING_EPOCHS": "5"}
    parsed = build_parser().parse_args(submit_training.trainer_args(load_config("local", environ), SHA_A, environ))
    assert (parsed.epochs, parsed.batch_size) == (5, 16)  # the variable's epochs, the model's batch size


def test_a_dataset_the_task_lacks_stops_submit_training_with_the_tasks_datasets() -> None:
    cfg = load_config("local", {"PIPELINE_TASK_NAME": "wine", "PIPELINE_TRAINING_DATASET": "mnist-sample"})
    with pytest.raises(ConfigError, match=r"task 'wine' has no dataset 'mnist-sample' \(choose from wine\)"):
        submit_training.trainer_args(cfg, SHA_A)


def test_runs_are_kept_per_sha_and_utc_time() -> None:
    now = datetime.datetime(2026, 11, 24, 2, 0, 5, tzinfo=datetime.UTC)
    assert submit_training.base_output_dir("gs://b/", "abc", now) == "gs://b/runs/abc/20261124T020005Z"


def test_a_job_trains_the_model_into_base_output_dir_model(run_a: TrainedRun, tmp_path: Path) -> None:
    assert run_a.model_dir.startswith(f"gs://test-bucket/runs/{SHA_A}/") and run_a.model_dir.endswith("/model")
    bucket, prefix = cloud.split_gs_uri(run_a.model_dir)
    names = {blob.name for blob in cloud.storage_client(load_config()).list_blobs(bucket, prefix=prefix)}
    assert {f"{prefix}/saved_model.pb", f"{prefix}/metrics.json"} <= names
    assert 0.8 < run_a.accuracy <= 1.0


@pytest.fixture(scope="module")
@tiers.slow
def failed_job(pipeline_env: object, tmp_path_factory: pytest.TempPathFactory) -> tuple[StepRun, dict]:
    """A job whose trainer exits at once (0 epochs), submitted with every label known. The config refuses 0 epochs
    before submitting (and an unknown dataset), so the job's command line gets a last --epochs=0, which wins.
    Run as the demo runs it, with an on_submitted hook: the record holds what the hook saw of the job."""
    out_dir = tmp_path_factory.mktemp("failed-job")
    built = submit_training.trainer_args
    seen: list[tuple[str, str]] = []

    def hooked_main(argv: list[str]) -> int:
        def on_submitted(name: str) -> None:
            seen.append((name, aiplatform.CustomJob.get(name).resource_name))  # NotFound unless it was submitted

        run = functools.partial(submit_training.run, on_submitted=on_submitted)
        return run_main(submit_training.STEP, submit_training.build_parser(), run, argv)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(submit_training, "trainer_args", lambda *args: [*built(*args), "--epochs=0"])
        result = step(
            hooked_main,
            *("--git-sha", SHA_A.upper(), "--pr", "12", "--run-id", "987", "--image-tag", "v1.2"),
            *("--out-dir", str(out_dir)),
        )
    assert (out_dir / "submit_training.json").is_file(), result.stderr
    return result, {**json.loads((out_dir / "submit_training.json").read_text()), "seen_by_hook": seen}


def test_the_on_submitted_hook_runs_once_the_job_exists(failed_job: tuple[StepRun, dict]) -> None:
    _, written = failed_job
    assert written["seen_by_hook"] == [(written["job"], written["job"])]


def test_a_failed_job_exits_1_with_the_jobs_error_and_log_tail(failed_job: tuple[StepRun, dict]) -> None:
    result, written = failed_job
    assert result.status == 1
    assert written["state"] == "JOB_STATE_FAILED"
    line = result.stderr.strip()
    assert "\n" not in line
    assert line.startswith(f"submit_training: job {written['job']} ended JOB_STATE_FAILED: ")
    assert "epochs and batch size must be >= 1" in line  # the trainer's own complaint, from the job's log tail


def test_the_job_carries_labels_the_entrypoint_and_the_image_tag(failed_job: tuple[StepRun, dict]) -> None:
    _, written = failed_job
    job = aiplatform.CustomJob.get(written["job"])
    assert job.labels == {"git_sha": SHA_A, "pr": "12", "run_id": "987"}
    container = job.job_spec.worker_pool_specs[0].container_spec
    assert list(container.command) == ["python", "-m", "trainer.task"]
    assert container.image_uri.endswith("/mnist-trainer:v1.2")
    assert job.job_spec.base_output_directory.output_uri_prefix == written["base_output_dir"]


def test_without_a_git_sha_the_step_is_a_usage_error(names: Names, tmp_path: Path) -> None:
    result = step(submit_training.main, "--out-dir", str(tmp_path))
    assert result.status == 2
    assert "pass --git-sha" in result.stderr


@pytest.mark.parametrize(
    ("message", "line"),
    [
        ("The replica workerpool0-0 exited with a non-zero status of 1.", None),
        (
            "workerpool0-0 exited with code 2. Last log lines:\nWARNING: x\n\nerror: bad\n",
            "workerpool0-0 exited with code 2. Last log lines: ... error: bad",
        ),
        ("", ""),
    ],
)
def test_a_job_error_is_shown_on_one_line_with_its_last_log_line(message: str, line: str | None) -> None:
    assert submit_training.one_line(message) == (message if line is None else line)
