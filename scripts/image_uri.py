"""Print the trainer and serving images' Artifact Registry URIs: python -m scripts.image_uri --profile gcp --tag SHA

The names come from pipeline.toml ([vertex] region, project, artifact_registry, trainer_image, serving_image), the
same place submit_training and register read them, so the images the workflow pushes are the ones Vertex runs.
Appends image=<uri>, serving_image=<uri> ("" when serving_image names a prebuilt image: nothing to build) and
registry=<host> to $GITHUB_OUTPUT.
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
    serving = cfg.vertex.serving_image_uri(args.tag) if cfg.vertex.serving_image_is_ours else ""
    print(image, flush=True)
    if serving:
        print(serving, flush=True)
    return StepResult(outputs={"image": image, "serving_image": serving, "registry": repository.split("/")[0]})


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(STEP, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
