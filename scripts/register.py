"""Register a trained model as a new version of the pipeline's model: python -m scripts.register --git-sha SHA

The version is uploaded with aliases sha-<short sha> and `candidate` (Vertex takes it off the previous
candidate), labels git_sha and run_id, and a description with its accuracy. Registering a SHA that already has a version
returns that version and changes nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from google.cloud import aiplatform

from pipeline_config import Config, ConfigError
from scripts.core import cloud, registry
from scripts.core.git_labels import job_labels, label_value, resolve_git_sha, resolve_run_id
from scripts.core.run_metrics import fmt, read_run_metrics
from scripts.core.step import (
    Environ,
    StepError,
    StepResult,
    add_common_flags,
    load_step_config,
    print_settings,
    run_main,
    trained_model_dir,
)

STEP = "register"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    add_common_flags(parser)
    parser.add_argument("--model-dir", help="the run's gs:// model dir (default: from submit_training.json)")
    parser.add_argument("--git-sha", help="commit the model was trained from (default: $GITHUB_SHA)")
    parser.add_argument("--run-id", help="CI run id, recorded as a label (default: $GITHUB_RUN_ID)")
    return parser


def description(metrics: dict[str, Any], accuracy: float, git_sha: str) -> str:
    """Labels cannot hold a dot, so the accuracy lives in the description."""
    return f"{metrics.get('model')} on {metrics.get('dataset')}: test accuracy {fmt(accuracy)} (git {git_sha})"


def existing_version(parent: aiplatform.Model | None, git_sha: str) -> aiplatform.Model | None:
    """The version already registered for this SHA (found by its sha-<short> alias), if any."""
    found = registry.get_version(parent.resource_name, registry.sha_alias(git_sha)) if parent else None
    if found is not None and found.labels.get("git_sha") != label_value(git_sha):
        raise StepError(
            f"alias {registry.sha_alias(git_sha)} is on v{found.version_id}, "
            f"labelled git_sha={found.labels.get('git_sha')}, not {git_sha}"
        )
    return found


def upload(
    cfg: Config, parent: aiplatform.Model | None, model_dir: str, git_sha: str, run_id: str | None
) -> aiplatform.Model:
    """A new version (or the first) holding the `candidate` alias from the start."""
    metrics, checked = read_run_metrics(model_dir, cloud.storage_client(cfg))
    text = description(metrics, checked.accuracy, git_sha)
    version = aiplatform.Model.upload(
        display_name=cfg.vertex.model_display_name,
        artifact_uri=model_dir,
        **registry.serving_container(cfg.vertex, git_sha),
        parent_model=parent.resource_name if parent else None,
        is_default_version=True,
        # `candidate` is given here, not moved afterwards: "if you apply an existing alias that is being used by
        # another model version, the alias is removed from that version"
        # (https://cloud.google.com/vertex-ai/docs/model-registry/model-alias). Moving it later would need
        # aiplatform.models.update, which would also let the training identity move `production`.
        version_aliases=[registry.sha_alias(git_sha), registry.CANDIDATE],
        description=text,
        version_description=text,
        labels=job_labels(git_sha, None, run_id),
        sync=True,
    )
    return aiplatform.Model(version.versioned_resource_name)


def run(args: argparse.Namespace, environ: Environ) -> StepResult:
    cfg = load_step_config(args.profile, environ)
    git_sha = resolve_git_sha(args.git_sha, environ)
    run_id = resolve_run_id(args.run_id, environ)
    model_dir = trained_model_dir(args.model_dir, args.out_dir)
    if not model_dir.startswith("gs://"):
        raise ConfigError(f"--model-dir must be a gs:// URI the service can read (got {model_dir!r})")
    settings = {"model": cfg.vertex.model_display_name, "model_dir": model_dir, "git_sha": git_sha}
    print_settings(STEP, cfg, {**settings, "serving_image": cfg.vertex.serving_image_uri(git_sha)})
    cloud.connect(cfg, environ)

    parent = registry.find_model(cfg.vertex.model_display_name)
    version = existing_version(parent, git_sha)
    reused = version is not None
    if version is None:
        version = upload(cfg, parent, model_dir, git_sha, run_id)
        print(f"{STEP}: registered {registry.describe(version)} from {model_dir}", flush=True)
    else:
        print(f"{STEP}: {git_sha} is already {registry.describe(version)} ({version.uri}); nothing changed")
    record = {
        "model": version.resource_name,
        "version_id": version.version_id,
        "aliases": list(version.version_aliases),
        "git_sha": git_sha,
        "artifact_uri": version.uri,
        "reused": reused,
    }
    return StepResult(
        record=record,
        outputs={"model": version.resource_name, "version_id": version.version_id, "reused": reused},
        summary=f"### Registered\n\n`{version.resource_name}` version **{version.version_id}**"
        f" ({', '.join(version.version_aliases)})" + (" (already registered)" if reused else ""),
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(STEP, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
