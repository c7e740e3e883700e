"""Print the trainer image's Artifact Registry URI: python -m scripts.image_uri --profile gcp --tag SHA

The name comes from pipeline.toml ([vertex] region, project, artifact_registry, trainer_image), the same
place submit_training reads it, so the image the workflow pushes is the one the job runs.
Appends image=<uri> and registry=<host> to $GITHUB_OUTPUT.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from scripts import common

STEP = "image_uri"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", help="pipeline.toml profile (default: $PIPELINE_PROFILE, else local)")
    parser.add_argument("--tag", required=True, help="image tag (the workflows use the git SHA)")
    return parser


def run(args: argparse.Namespace) -> int:
    cfg = common.load_step_config(args.profile, os.environ)
    repository = cfg.vertex.image_repository
    image = f"{repository}:{args.tag}"
    common.publish(os.environ.get("GITHUB_OUTPUT"), None, {"image": image, "registry": repository.split("/")[0]}, "")
    print(image, flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return common.run_main(STEP, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
