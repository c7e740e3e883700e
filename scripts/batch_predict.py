"""Batch prediction with the production version: python -m scripts.batch_predict [--input gs://...jsonl] [--count N]

Vertex's other way to use a model: a BatchPredictionJob reads JSON Lines instances from Cloud Storage and
writes prediction.results-* files of {"instance", "prediction"} lines beside prediction.errors_stats-* (the
lines that failed). Without --input it writes N real test digits to gs://<bucket>/batch/<time>/input.jsonl
and reports the accuracy of the predictions against their labels. No endpoint is used: the job brings up
its own machines (deploy_machine_type, 1 to deploy_max_replicas) and releases them when it ends.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from pipeline_config import Config, ConfigError
from scripts.core import cloud, probe, registry
from scripts.core.step import (
    Environ,
    StepError,
    StepResult,
    add_common_flags,
    load_step_config,
    print_settings,
    run_main,
)

STEP = "batch_predict"
DEFAULT_COUNT = 100  # test digits sent when no --input is given
DONE_STATES = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    add_common_flags(parser)
    parser.add_argument("--version", default=registry.PRODUCTION, help="version id or alias (default: production)")
    parser.add_argument("--input", help="gs:// JSON Lines of 28x28 images (default: --count test digits)")
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help=f"test digits (default {DEFAULT_COUNT})")
    return parser


def batch_prefix(staging_bucket: str, now: datetime.datetime) -> str:
    return f"{staging_bucket.rstrip('/')}/batch/{now:%Y%m%dT%H%M%SZ}"


def instance_lines(images: np.ndarray) -> str:
    """One JSON Lines instance per image: 28 rows of 28 numbers, as a predict request's instances are."""
    return "".join(json.dumps(np.round(image, 6).tolist()) + "\n" for image in images)


def image_key(instance: Any) -> bytes:
    return np.asarray(instance, dtype=np.float32).round(5).tobytes()


def accuracy(results: Iterable[dict[str, Any]], labels: dict[bytes, int]) -> float | None:
    """The share of results whose most likely class is the label of the instance they carry."""
    hits = [int(np.argmax(r["prediction"])) == labels[image_key(r["instance"])] for r in results]
    return round(sum(hits) / len(hits), 4) if hits else None


def wait(job: Any, poll_seconds: float, say: Callable[[str], None]) -> str:
    """Poll the job until it ends, saying each new state; its final state's name."""
    last = ""
    while True:
        state = job.state.name  # the property fetches the job again
        if state != last:
            say(f"{STEP}: {state}")
            last = state
        if state in DONE_STATES:
            return state
        time.sleep(poll_seconds)


def read_results(directory: str, client: Any) -> tuple[list[dict[str, Any]], int]:
    """(the result lines, how many error lines) of every file in the job's output folder."""
    bucket, prefix = cloud.split_gs_uri(directory.rstrip("/") + "/")
    results, errors = [], 0
    for blob in client.list_blobs(bucket, prefix=prefix):
        with blob.open("r") as lines:  # read in chunks, not the whole file at once
            if "prediction.results-" in blob.name:
                results += [json.loads(line) for line in lines if line.strip()]
            elif "prediction.errors_stats-" in blob.name:
                errors += sum(1 for line in lines if line.strip())
    return results, errors


def quiet_sdk_logs() -> None:
    """This step says each state once itself; the SDK's INFO lines (one per poll) are turned down, module by
    module, as each aiplatform logger sets its own level."""
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if name.startswith("google.cloud.aiplatform") and isinstance(logger, logging.Logger):
            logger.setLevel(logging.WARNING)


def submit(cfg: Config, version: Any, source: str, prefix: str) -> Any:
    v = cfg.vertex
    return version.batch_predict(
        job_display_name=f"{v.model_display_name}-batch-{prefix.rsplit('/', 1)[1]}", gcs_source=source,
        gcs_destination_prefix=f"{prefix}/output", machine_type=v.deploy_machine_type,
        starting_replica_count=1, max_replica_count=v.deploy_max_replicas, sync=False,
    )  # fmt: skip


def run(args: argparse.Namespace, environ: Environ) -> StepResult:
    cfg = load_step_config(args.profile, environ)
    if args.input is None and args.count < 1:
        raise ConfigError(f"--count {args.count}: expected at least 1 digit")
    prefix = batch_prefix(cfg.vertex.staging_bucket, datetime.datetime.now(datetime.UTC))
    source = args.input or f"{prefix}/input.jsonl"
    print_settings(STEP, cfg, {"model": cfg.vertex.model_display_name, "version": args.version, "input": source,
                               "machine": cfg.vertex.deploy_machine_type})  # fmt: skip
    cloud.connect(cfg, environ)
    quiet_sdk_logs()
    client = cloud.storage_client(cfg, environ)
    version = registry.require_version(cfg.vertex.model_display_name, args.version)
    labels: dict[bytes, int] = {}
    if args.input is None:
        images, truth = probe.load_digits(cfg.training.dataset, cfg.training.seed, args.count)
        cloud.write_text(source, instance_lines(images), client)
        labels = {image_key(np.round(image, 6)): int(label) for image, label in zip(images, truth, strict=True)}
    job = submit(cfg, version, source, prefix)
    job.wait_for_resource_creation()
    print(f"{STEP}: job {job.resource_name} ({registry.describe(version)})", flush=True)
    state = wait(job, cfg.vertex.job_poll_seconds, lambda line: print(line, flush=True))
    if state != "JOB_STATE_SUCCEEDED":
        raise StepError(f"job {job.resource_name} ended {state}: {job.error.message or 'no error message'}")
    directory = job.output_info.gcs_output_directory
    results, errors = read_results(directory, client)
    record = {"job": job.resource_name, "version": version.version_id, "input": source, "output": directory,
              "predicted": len(results), "failed": errors,
              "accuracy": accuracy(results, labels) if labels else None}  # fmt: skip
    print(f"{STEP}: {record['predicted']} predicted, {errors} failed, accuracy {record['accuracy']}\n"
          f"{STEP}: output {directory}", flush=True)  # fmt: skip
    return StepResult(
        record=record,
        outputs={"output": directory, "predicted": len(results), "failed": errors},
        summary=f"### Batch prediction\n\n`{job.resource_name}`: {len(results)} predicted, {errors} failed, "
        f"accuracy {record['accuracy']}\n\nOutput: `{directory}`",
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(STEP, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
