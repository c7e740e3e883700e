"""Copy a model directory (SavedModel + metrics.json) from gs://, a local path or the Model Registry.

    python -m scripts.fetch_model --profile local --model-dir gs://local-bucket/runs/SHA/TIME/model
    python -m scripts.fetch_model --profile gcp --version 3 --dest out/card --metrics-only
    python -m scripts.fetch_model --profile gcp --git-sha SHA --dest out/model \
        --verdict-dest out/verdict --archive out/card/model.tar.gz

Workflows use it so the report reads metrics.json, and the PR's artifacts hold the model, without knowing
where vertex-local or Cloud Storage keeps them. --version (an id or alias) and --git-sha read the registered
version's artifact URI. For the Release, --verdict-dest also copies the gate's verdict kept beside the model
(scripts.keep_verdict; none kept is an error) and --archive packs the model into model.tar.gz within the
[release] limits (scripts.github.model_archive), the asset pull requests seed their production from.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
from collections.abc import Sequence
from pathlib import Path

from pipeline_config import ConfigError
from scripts.comparison import verdict_store
from scripts.core import cloud, registry
from scripts.core.step import Environ, StepError, StepResult, add_common_flags, load_step_config, run_main
from scripts.github import model_archive

STEP = "fetch_model"
METRICS = "metrics.json"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    add_common_flags(parser, out_dir=False)  # it writes the model's own files under --dest
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-dir", help="gs://BUCKET/.../model or a local directory")
    source.add_argument("--version", type=registry.version_reference, help="a registered version (id or alias)")
    source.add_argument("--git-sha", type=registry.commit_reference, help="the version registered for this commit")
    parser.add_argument("--dest", type=Path, default=Path("out/model"), help="local folder (default: out/model)")
    parser.add_argument("--metrics-only", action="store_true", help="copy metrics.json alone")
    parser.add_argument("--verdict-dest", type=Path, help="also copy the gate's verdict kept beside the model here")
    parser.add_argument("--archive", type=Path, help=f"also pack the model into this {model_archive.ARCHIVE_NAME}")
    return parser


def copy_from_disk(source: Path, dest: Path, metrics_only: bool) -> list[Path]:
    """Every file under a local model dir (or metrics.json alone) into `dest`."""
    if not source.is_dir():
        raise StepError(f"{source} is not a directory")
    files = [source / METRICS] if metrics_only else [p for p in source.rglob("*") if p.is_file()]
    copied = []
    for path in (p for p in files if p.is_file()):
        target = cloud.local_target(dest, str(path.relative_to(source)))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        copied.append(target)
    return copied


def check_flags(args: argparse.Namespace, limits: model_archive.Limits) -> None:
    """What --archive needs: the whole model, alone in --dest, packed under its asset name within the limits."""
    if args.archive is None:
        return
    if args.metrics_only:
        raise ConfigError("--archive packs the whole model: it cannot be combined with --metrics-only")
    if args.archive.name != model_archive.ARCHIVE_NAME:
        raise ConfigError(f"--archive must be a file named {model_archive.ARCHIVE_NAME}, got {args.archive.name}")
    if args.dest.exists() and any(args.dest.iterdir()):
        raise ConfigError(f"--dest {args.dest} is not empty: --archive would pack what else is in it")
    try:
        limits.check()
    except model_archive.ArchiveError as exc:
        raise ConfigError(str(exc)) from None


def resolve_source(args: argparse.Namespace, model_name: str) -> str:
    """--model-dir as given, else the registered version's artifact URI."""
    if args.model_dir is not None:
        return args.model_dir
    version = registry.require_version(model_name, args.version or registry.sha_alias(args.git_sha))
    print(f"{STEP}: {registry.describe(version)} is {version.uri}", flush=True)
    return version.uri.rstrip("/")


def run(args: argparse.Namespace, environ: Environ) -> StepResult:
    cfg = load_step_config(args.profile, environ)
    limits = model_archive.Limits(**dataclasses.asdict(cfg.release))
    check_flags(args, limits)
    if args.model_dir is None or args.model_dir.startswith("gs://") or args.verdict_dest is not None:
        cloud.connect(cfg, environ)
    source = resolve_source(args, cfg.vertex.model_display_name)
    args.dest.mkdir(parents=True, exist_ok=True)
    if source.startswith("gs://"):
        only = METRICS if args.metrics_only else None
        copied = cloud.download_dir(source, args.dest, cloud.storage_client(cfg), only)
    else:
        copied = copy_from_disk(Path(source), args.dest, args.metrics_only)
    if not (args.dest / METRICS).is_file():
        raise StepError(f"no {METRICS} under {source}")
    print(f"{STEP}: {len(copied)} file(s) from {source} to {args.dest}", flush=True)
    if args.verdict_dest is not None:
        kept = verdict_store.load(source, args.verdict_dest, cloud.storage_client(cfg))
        print(f"{STEP}: the gate's verdict: {', '.join(p.name for p in kept)} to {args.verdict_dest}", flush=True)
    if args.archive is not None:
        args.archive.parent.mkdir(parents=True, exist_ok=True)
        try:
            names = model_archive.pack(args.dest, args.archive, limits)
        except model_archive.ArchiveError as exc:
            raise StepError(f"the model cannot be packed for the Release: {exc}") from None
        print(f"{STEP}: packed {len(names)} file(s) into {args.archive} ({args.archive.stat().st_size:,} bytes)")
    return StepResult()


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(STEP, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
