"""Print the trainer image's Artifact Registry URI: python -m scripts.image_uri --profile gcp --tag SHA

The name comes from pipeline.toml ([vertex] region, project, artifact_registry, trainer_image), the same
place submit_training reads it, so the image the workflow pushes is the one the job runs.
Appends image=<uri> and registry=<host> to $GITHUB_OUTPUT.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from scripts.core.step import Environ, StepResult, add_common_flags, load_step_config, run_main

STEP = "image_uri"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    add_common_flags(parser, out_dir=False)  # its one result is the line it prints and $GITHUB_OUTPUT
    parser.add_argument("--tag", required=True, help="image tag (the workflows use the git SHA)")
    return parser


def run(args: argparse.Namespace, environ: Environ) -> StepResult:
    cfg = load_step_config(args.profile, environ)
    repository = cfg.vertex.image_repository
    image = f"{repository}:{args.tag}"
    print(image, flush=True)
    return StepResult(outputs={"image": image, "registry": repository.split("/")[0]})


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(STEP, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
