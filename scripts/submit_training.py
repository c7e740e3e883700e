"""Train in a Vertex AI CustomJob and wait for it: python -m scripts.submit_training --git-sha SHA

The job writes its SavedModel and metrics.json to <base_output_dir>/model, with
base_output_dir = <staging bucket>/runs/<git sha>/<UTC timestamp>. Prints the job name and the model dir.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from google.cloud import aiplatform

from pipeline_config import Config, ConfigError, Training, chosen_training_keys, load_task_of
from scripts.core import cloud
from scripts.core.git_labels import job_labels, resolve_git_sha, resolve_run_id, short_sha
from scripts.core.step import Environ, StepResult, add_common_flags, load_step_config, print_settings, run_main
from tasks import TaskError

STEP = "submit_training"
ENTRYPOINT = ["python", "-m", "trainer.task"]  # explicit, so the job does not depend on the image's ENTRYPOINT
SUCCEEDED = "JOB_STATE_SUCCEEDED"
TERMINAL_STATES = {SUCCEEDED, "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    add_common_flags(parser)
    parser.add_argument("--git-sha", help="commit being trained (default: $GITHUB_SHA)")
    parser.add_argument("--pr", help="pull request number, recorded as a job label")
    parser.add_argument("--run-id", help="CI run id, recorded as a job label (default: $GITHUB_RUN_ID)")
    parser.add_argument("--image-tag", help="trainer image tag (default: the git SHA)")
    return parser


def training_values(cfg: Config, environ: Mapping[str, str]) -> dict[str, Any]:
    """[training] resolved for the task: its dataset and model names, its model's own defaults where no
    PIPELINE_TRAINING_* variable chose the value (as trainer.task resolves them)."""
    task = load_task_of(cfg)
    values = {field.name: getattr(cfg.training, field.name) for field in dataclasses.fields(Training)}
    try:
        values.update(dataset=task.resolve_dataset(values["dataset"]), model=task.resolve_model(values["model"]))
    except TaskError as exc:
        raise ConfigError(str(exc)) from None
    return task.hyperparameters(values["model"], values, chosen_training_keys(environ))


def trainer_args(cfg: Config, git_sha: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """The task and every [training] value (training_values) passed explicitly, so the job spec alone says how the
    model was trained.

    One flag per field of Training (`batch_size` is --batch-size, as trainer.task spells it).
    """
    flags = {"task": cfg.task.name, **training_values(cfg, environ or {}), "git_sha": git_sha}
    return [f"--{name.replace('_', '-')}={value}" for name, value in flags.items()]


def worker_pool_specs(cfg: Config, image_uri: str, args: list[str]) -> list[dict[str, Any]]:
    """Vertex wants the chief alone in pool 0; further replicas form pool 1 with the same machine."""
    v = cfg.vertex
    if v.training_replica_count < 1:
        raise ConfigError(f"vertex.training_replica_count = {v.training_replica_count}: expected >= 1")
    machine: dict[str, Any] = {"machine_type": v.training_machine_type}
    if v.accelerator_type and v.accelerator_count > 0:
        machine.update(accelerator_type=v.accelerator_type, accelerator_count=v.accelerator_count)
    container = {"image_uri": image_uri, "command": ENTRYPOINT, "args": args}
    pools = [{"machine_spec": machine, "replica_count": 1, "container_spec": container}]
    if v.training_replica_count > 1:
        pools.append(
            {
                "machine_spec": machine,
                "replica_count": v.training_replica_count - 1,
                "container_spec": container,
            }
        )
    return pools


def base_output_dir(staging_bucket: str, git_sha: str, now: datetime.datetime) -> str:
    return f"{staging_bucket.rstrip('/')}/runs/{git_sha}/{now:%Y%m%dT%H%M%SZ}"


def wait_for_job(job: aiplatform.CustomJob, poll_seconds: float, log: Callable[[str], None]) -> str:
    """Poll until the job ends, logging each state change; returns the final state's name."""
    last = ""
    while True:
        state = job.state.name
        if state != last:
            log(f"{STEP}: {job.resource_name} {state}")
            last = state
        if state in TERMINAL_STATES:
            return state
        time.sleep(poll_seconds)


def one_line(message: str) -> str:
    """A multi-line error (vertex-local quotes the log tail) as its first and last line (the cause)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return " ... ".join(dict.fromkeys([lines[0], lines[-1]])) if lines else message


def run(args: argparse.Namespace, environ: Environ, on_submitted: Callable[[str], None] | None = None) -> StepResult:
    """Submit the job and wait for it; on_submitted(job name), when given, is called once the job is submitted
    (the demo starts work there that would otherwise slow the submission down)."""
    cfg = load_step_config(args.profile, environ)
    git_sha = resolve_git_sha(args.git_sha, environ)
    now = datetime.datetime.now(datetime.UTC)
    base = base_output_dir(cfg.vertex.staging_bucket, git_sha, now)
    image_uri = f"{cfg.vertex.image_repository}:{args.image_tag or git_sha}"
    print_settings(STEP, cfg, {"image": image_uri, **_training_summary(cfg, environ)})
    cloud.connect(cfg, environ)

    job = aiplatform.CustomJob(
        display_name=f"train-{short_sha(git_sha)}-{now:%Y%m%d-%H%M%S}",
        worker_pool_specs=worker_pool_specs(cfg, image_uri, trainer_args(cfg, git_sha, environ)),
        base_output_dir=base,
        labels=job_labels(git_sha, args.pr, resolve_run_id(args.run_id, environ)),
        staging_bucket=cfg.vertex.staging_bucket,
    )
    job.submit()
    started = time.monotonic()
    if on_submitted is not None:
        on_submitted(job.resource_name)
    state = wait_for_job(job, cfg.vertex.job_poll_seconds, lambda line: print(line, flush=True))
    model_dir = f"{base}/model"
    record = {"job": job.resource_name, "state": state, "model_dir": model_dir, "base_output_dir": base}
    record["wall_time_s"] = round(time.monotonic() - started, 1)
    failure = None
    if state != SUCCEEDED:
        message = job.error.message or "no error message"
        print(f"{STEP}: the job's error message:\n{message}", flush=True)  # may quote a log tail
        failure = f"job {job.resource_name} ended {state}: {one_line(message)}"
    else:
        print(f"{STEP}: job {job.resource_name}\n{STEP}: model dir {model_dir}", flush=True)
    return StepResult(
        record=record,
        outputs={"job": job.resource_name, "state": state, "model_dir": model_dir},
        summary=f"### Training\n\n`{job.resource_name}`: **{state}** in {record['wall_time_s']} s"
        f"\n\nModel: `{model_dir}`",
        failure=failure,
    )


def _training_summary(cfg: Config, environ: Mapping[str, str]) -> dict[str, Any]:
    t, v = training_values(cfg, environ), cfg.vertex
    return {
        "dataset": t["dataset"],
        "model": t["model"],
        "epochs": t["epochs"],
        "batch_size": t["batch_size"],
        "learning_rate": t["learning_rate"],
        "seed": t["seed"],
        "machine": v.training_machine_type,
        "replicas": v.training_replica_count,
        "accelerator": v.accelerator_type or "none",
    }


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(STEP, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
