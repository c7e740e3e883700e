"""Copy a model directory (SavedModel + metrics.json) from gs://, a local path or the Model Registry.

    python -m scripts.fetch_model --profile local --model-dir gs://local-bucket/runs/SHA/TIME/model
    python -m scripts.fetch_model --profile gcp --version 3 --dest out/card --metrics-only

Workflows use it so the report reads metrics.json, and the PR's artifacts hold the model, without
knowing where vertex-local or Cloud Storage keeps them. --version (an id or alias) reads the registered
version's artifact URI, so the Release's model card is the deployed version's own metrics.json.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from pathlib import Path

from google.cloud import storage

from scripts import cloud, registry
from scripts.contract import Environ, StepError, StepResult, add_common_flags, load_step_config, run_main

STEP = "fetch_model"
METRICS = "metrics.json"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    add_common_flags(parser, out_dir=False)  # it writes the model's own files under --dest
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-dir", help="gs://BUCKET/.../model or a local directory")
    source.add_argument("--version", help="a registered version of [vertex] model_display_name (id or alias)")
    parser.add_argument("--dest", type=Path, default=Path("out/model"), help="local folder (default: out/model)")
    parser.add_argument("--metrics-only", action="store_true", help="copy metrics.json alone")
    return parser


def local_target(dest: Path, relative: str) -> Path:
    """Where one object lands; a name that would climb out of `dest` is refused."""
    target = (dest / relative).resolve()
    if not target.is_relative_to(dest.resolve()):
        raise StepError(f"object name {relative!r} points outside {dest}")
    return target


def copy_from_gcs(uri: str, dest: Path, metrics_only: bool, client: storage.Client) -> list[Path]:
    """Every object under the gs:// prefix (or metrics.json alone) into `dest`."""
    bucket, root = cloud.split_gs_uri(uri.rstrip("/") + "/")
    copied = []
    for blob in client.list_blobs(bucket, prefix=root + METRICS if metrics_only else root):
        relative = blob.name[len(root) :]
        if (metrics_only and relative != METRICS) or not relative or relative.endswith("/"):
            continue  # a longer name sharing the prefix, or a "folder" placeholder object
        target = local_target(dest, relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        blob.download_to_filename(str(target))
        copied.append(target)
    return copied


def copy_from_disk(source: Path, dest: Path, metrics_only: bool) -> list[Path]:
    """Every file under a local model dir (or metrics.json alone) into `dest`."""
    if not source.is_dir():
        raise StepError(f"{source} is not a directory")
    files = [source / METRICS] if metrics_only else [p for p in source.rglob("*") if p.is_file()]
    copied = []
    for path in (p for p in files if p.is_file()):
        target = local_target(dest, str(path.relative_to(source)))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        copied.append(target)
    return copied


def run(args: argparse.Namespace, environ: Environ) -> StepResult:
    cfg = load_step_config(args.profile, environ)
    args.dest.mkdir(parents=True, exist_ok=True)
    source = args.model_dir
    if source is None or source.startswith("gs://"):
        cloud.connect(cfg, environ)
    if source is None:
        version = registry.require_version(cfg.vertex.model_display_name, args.version)
        source = version.uri
        print(f"{STEP}: {registry.describe(version)} is {source}", flush=True)
    if source.startswith("gs://"):
        copied = copy_from_gcs(source, args.dest, args.metrics_only, cloud.storage_client(cfg))
    else:
        copied = copy_from_disk(Path(source), args.dest, args.metrics_only)
    if not (args.dest / METRICS).is_file():
        raise StepError(f"no {METRICS} under {source}")
    print(f"{STEP}: {len(copied)} file(s) from {source} to {args.dest}", flush=True)
    return StepResult()


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(STEP, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
