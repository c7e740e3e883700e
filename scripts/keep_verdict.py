"""Keep the gate's verdict with the model it judged: python -m scripts.keep_verdict --model-dir gs://.../model

Uploads out/gate.json, with the gate_regressions.json and production_metrics.json the gate wrote beside it,
to the run's `gate/` folder beside its model dir (scripts.comparison.verdict_store). train.yml runs it between the gate
and the registration, so the Release's model card can later show what the gate compared and decided. A
gate.json that judged another model dir is refused.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pipeline_config import ConfigError
from scripts.comparison import verdict_store
from scripts.core import cloud
from scripts.core.step import (
    Environ,
    StepResult,
    add_common_flags,
    load_step_config,
    print_settings,
    run_main,
    trained_model_dir,
)

STEP = "keep_verdict"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    add_common_flags(parser)  # --out-dir: where the gate wrote gate.json, and where keep_verdict.json goes
    parser.add_argument("--model-dir", help="the gs:// model dir the gate judged (default: from submit_training.json)")
    return parser


def run(args: argparse.Namespace, environ: Environ) -> StepResult:
    cfg = load_step_config(args.profile, environ)
    model_dir = trained_model_dir(args.model_dir, args.out_dir)
    if not model_dir.startswith("gs://"):
        raise ConfigError(f"--model-dir must be a gs:// URI, where the verdict is kept beside it (got {model_dir!r})")
    target = verdict_store.verdict_dir(model_dir)
    print_settings(STEP, cfg, {"model_dir": model_dir, "verdict_dir": target})
    verdict_store.read_local(Path(args.out_dir), model_dir)  # before any call: a missing or foreign verdict stops here
    cloud.connect(cfg, environ)
    kept = verdict_store.save(Path(args.out_dir), model_dir, cloud.storage_client(cfg))
    print(f"{STEP}: kept {', '.join(uri.rpartition('/')[2] for uri in kept)} in {target}/", flush=True)
    return StepResult(
        record={"model_dir": model_dir, "verdict_dir": target, "kept": kept},
        outputs={"verdict_dir": target},
        summary=f"### Gate verdict kept\n\n`{target}/` ({len(kept)} file(s)), beside the model",
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(STEP, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
