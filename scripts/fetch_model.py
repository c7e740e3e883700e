"""Copy a trained model directory (SavedModel + metrics.json) from gs:// or a local path to a local folder.

    python -m scripts.fetch_model --profile local --model-dir gs://local-bucket/runs/SHA/TIME/model
    python -m scripts.fetch_model --profile gcp --model-dir "$MODEL_DIR" --dest out/model --metrics-only

Workflows use it so the report reads metrics.json, and the PR's artifacts hold the model, without
knowing where vertex-local or Cloud Storage keeps them.
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from google.cloud import storage

from scripts import common

STEP = "fetch_model"
METRICS = "metrics.json"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", help="pipeline.toml profile (default: $PIPELINE_PROFILE, else local)")
    parser.add_argument("--model-dir", required=True, help="gs://BUCKET/.../model or a local directory")
    parser.add_argument(
        "--dest", type=Path, default=Path("out/model"), help="local folder (default: out/model)"
    )
    parser.add_argument("--metrics-only", action="store_true", help="copy metrics.json alone")
    return parser


def local_target(dest: Path, relative: str) -> Path:
    """Where one object lands; a name that would climb out of `dest` is refused."""
    target = (dest / relative).resolve()
    if not target.is_relative_to(dest.resolve()):
        raise common.StepError(f"object name {relative!r} points outside {dest}")
    return target


def copy_from_gcs(uri: str, dest: Path, metrics_only: bool, client: storage.Client) -> list[Path]:
    bucket, root = common.split_gs_uri(uri.rstrip("/") + "/")
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
    if not source.is_dir():
        raise common.StepError(f"{source} is not a directory")
    files = [source / METRICS] if metrics_only else [p for p in source.rglob("*") if p.is_file()]
    copied = []
    for path in (p for p in files if p.is_file()):
        target = local_target(dest, str(path.relative_to(source)))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        copied.append(target)
    return copied


def run(args: argparse.Namespace) -> int:
    cfg = common.load_step_config(args.profile, os.environ)
    args.dest.mkdir(parents=True, exist_ok=True)
    if args.model_dir.startswith("gs://"):
        common.connect(cfg, os.environ)
        copied = copy_from_gcs(args.model_dir, args.dest, args.metrics_only, common.storage_client(cfg))
    else:
        copied = copy_from_disk(Path(args.model_dir), args.dest, args.metrics_only)
    if not (args.dest / METRICS).is_file():
        raise common.StepError(f"no {METRICS} under {args.model_dir}")
    print(f"{STEP}: {len(copied)} file(s) from {args.model_dir} to {args.dest}", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return common.run_main(STEP, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
