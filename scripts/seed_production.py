"""Give an empty vertex-local production's model from the latest GitHub Release: python -m scripts.seed_production

pr.yml starts vertex-local on the runner with nothing in it, so the gate would find no production to compare
with. This step downloads the latest Release's model.tar.gz (release.yml packs the deployed version's SavedModel
and metrics.json into it) with `gh release download`, unpacks it within the [release] limits, refusing links,
names that climb out and oversize members (scripts.github.model_archive), uploads it to the staging bucket and registers
it as the `production` version of [vertex] model_display_name: the gate then pairs the candidate with the model
that really serves. Needs a read-only GH_TOKEN and no cloud access. What happened goes to out/seed_production.json
and $GITHUB_OUTPUT (`seeded`, `version_id`, `unavailable`):

- seeded: production is registered (a registry that already has a production version is left alone);
- no Release, or one without model.tar.gz: nothing to seed; the gate says there is no production (first run);
- GitHub failed, or the archive was refused: `unavailable` says why, on one line. The step still exits 0, so the
  pull request's check follows the gate alone, and the report says the baseline was unavailable.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.cloud import aiplatform, storage

from pipeline_config import Config, ConfigError
from scripts.core import cloud, registry
from scripts.core.git_labels import job_labels, short_sha
from scripts.core.run_metrics import METRICS_FILE, fmt, parse_metrics
from scripts.core.step import (
    Environ,
    StepError,
    StepResult,
    add_common_flags,
    load_step_config,
    print_settings,
    run_main,
)
from scripts.github import model_archive, releases

STEP = "seed_production"
SAVED_MODEL = "saved_model.pb"
PREFIX = "release-baseline"  # gs://STAGING_BUCKET/release-baseline/<UTC time>/model


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    add_common_flags(parser)
    parser.add_argument("--repo", help="owner/name whose latest Release is read (default: $GITHUB_REPOSITORY)")
    return parser


def archive_limits(cfg: Config) -> model_archive.Limits:
    try:
        return model_archive.Limits(**dataclasses.asdict(cfg.release)).check()
    except model_archive.ArchiveError as exc:
        raise ConfigError(str(exc)) from None


def outcome(record: dict[str, Any], line: str) -> StepResult:
    """The step's result: its record, GitHub's outputs (all three, always) and one summary line."""
    print(f"{STEP}: {line}", flush=True)
    if record.get("unavailable"):
        print(f"::warning::{STEP}: production baseline unavailable: {record['unavailable']}", flush=True)
    outputs = {key: record.get(key, "") for key in ("seeded", "version_id", "unavailable")}
    return StepResult(record=record, outputs=outputs, summary=f"### Production baseline\n\n{line}")


def unavailable(reason: str) -> StepResult:
    reason = " ".join(reason.split())[: releases.REASON_CHARS]  # one line: it travels as a GitHub output
    return outcome({"seeded": False, "unavailable": reason}, f"baseline unavailable ({reason}); nothing seeded")


def unpack_model(archive: Path, dest: Path, limits: model_archive.Limits) -> tuple[dict[str, Any], list[str]]:
    """The Release's model, unpacked and checked: a SavedModel and a metrics.json the gate can read."""
    names = model_archive.unpack(archive, dest, limits)
    missing = [name for name in (SAVED_MODEL, METRICS_FILE) if name not in names]
    if missing:
        raise model_archive.ArchiveError(f"it holds no {missing[0]} at its top level")
    try:
        metrics = json.loads((dest / METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise model_archive.ArchiveError(f"its {METRICS_FILE} cannot be read ({exc})") from None
    try:
        parse_metrics(metrics, archive.name)
    except StepError as exc:
        raise model_archive.ArchiveError(str(exc)) from None
    return metrics, names


def upload(local: Path, names: list[str], cfg: Config, client: storage.Client) -> str:
    """The model's files into the staging bucket, metrics.json last (as the trainer writes a run); its gs:// URI."""
    time = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    uri = f"{cfg.vertex.staging_bucket.rstrip('/')}/{PREFIX}/{time}/model"
    bucket_name, prefix = cloud.split_gs_uri(uri)
    bucket = client.bucket(bucket_name)
    for name in sorted(names, key=lambda name: name == METRICS_FILE):
        bucket.blob(f"{prefix}/{name}").upload_from_filename(str(local / name))
    return uri


def register(cfg: Config, uri: str, metrics: dict[str, Any]) -> aiplatform.Model:
    """A version holding the `production` alias (the model's first, on a fresh runner)."""
    parent = registry.find_model(cfg.vertex.model_display_name)
    git_sha = metrics.get("git_sha") if isinstance(metrics.get("git_sha"), str) else None
    text = f"production from the latest GitHub Release: test accuracy {fmt(metrics['accuracy'])} (git {git_sha})"
    version = aiplatform.Model.upload(
        display_name=cfg.vertex.model_display_name,
        artifact_uri=uri,
        **registry.serving_container(cfg.vertex, git_sha or registry.PRODUCTION),  # its image was pushed with it
        parent_model=parent.resource_name if parent else None,
        is_default_version=parent is None,
        version_aliases=[registry.PRODUCTION],
        description=text,
        version_description=text,
        labels=job_labels(git_sha, None, None),
        sync=True,
    )
    return aiplatform.Model(version.versioned_resource_name)  # read back: its aliases as the registry has them


def run(args: argparse.Namespace, environ: Environ) -> StepResult:
    cfg = load_step_config(args.profile, environ)
    limits = archive_limits(cfg)
    repo = args.repo or environ.get("GITHUB_REPOSITORY") or None
    settings = {"model": cfg.vertex.model_display_name, "repo": repo or "(gh's)", **dataclasses.asdict(limits)}
    print_settings(STEP, cfg, settings)
    cloud.connect(cfg, environ)
    existing = registry.production_version(cfg.vertex.model_display_name)
    if existing is not None:
        record = {"seeded": False, "version_id": existing.version_id, "already": True}
        return outcome(record, f"{registry.describe(existing)} already holds production; nothing seeded")
    with tempfile.TemporaryDirectory(prefix="seed-production-") as scratch:
        try:
            archive = releases.download_latest_asset(model_archive.ARCHIVE_NAME, Path(scratch) / "download", repo)
        except releases.ReleaseUnavailable as exc:
            return unavailable(str(exc))
        except releases.ReleaseError as exc:
            raise StepError(str(exc)) from None
        if archive is None:
            line = f"no GitHub Release with a {model_archive.ARCHIVE_NAME} yet: no production to compare with"
            return outcome({"seeded": False}, line)
        try:
            metrics, names = unpack_model(archive, Path(scratch) / "model", limits)
        except model_archive.ArchiveError as exc:
            return unavailable(f"the latest Release's {model_archive.ARCHIVE_NAME} was refused: {exc}")
        uri = upload(Path(scratch) / "model", names, cfg, cloud.storage_client(cfg))
    version = register(cfg, uri, metrics)
    record = {"seeded": True, "version_id": version.version_id, "model": version.resource_name, "artifact_uri": uri}
    record.update(git_sha=metrics.get("git_sha"), accuracy=metrics["accuracy"], files=len(names))
    sha = short_sha(str(metrics.get("git_sha") or "unknown"))
    return outcome(record, f"{registry.describe(version)} is production, from the latest Release (git {sha}): {uri}")


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(STEP, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
