"""The step contract for the steps that use the cloud: shared flags, the checked config, and their known errors.

Each step is `python -m scripts.<step>`. Its main() calls run_main(STEP, build_parser(), run, argv): the one error
path in scripts.core.step_runner (exit 0 success, 1 a known failure as one stderr line `<step>: <reason>`, 2 a usage or
config error), with the errors of the SDKs and of the config added here. The environment is read there and handed
down.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import requests
from google.api_core import exceptions as google_exceptions

from pipeline_config import Config, ConfigError, load_config, load_task_of
from scripts.core import step_runner
from scripts.core.step_runner import (
    EXIT_USAGE,
    Environ,
    KnownError,
    Outcome,
    Run,
    StepError,
    StepResult,
    UsageError,
)

__all__ = ["Environ", "Outcome", "Run", "StepError", "StepResult", "UsageError"]  # the core's, for the cloud steps
CREDENTIAL_KINDS = ("default", "anonymous", "token")  # ADC (Workload Identity in CI); vertex-local: see cloud.py
CLOUD_ERRORS = (
    # The service refused or failed a call (permissions, quota, a bad name, retries exhausted).
    KnownError(google_exceptions.GoogleAPIError, template="Google API: {}"),
    KnownError(requests.exceptions.ConnectionError,
               template="cannot reach the service ({}); for vertex-local, is it running?"),
    KnownError(ConfigError, EXIT_USAGE, "config: {}"),
)  # fmt: skip


def add_common_flags(parser: argparse.ArgumentParser, out_dir: bool = True) -> argparse.ArgumentParser:
    """--profile, and --out-dir for steps that write out/<step>.json."""
    parser.add_argument("--profile", help="pipeline.toml profile (default: $PIPELINE_PROFILE, else local)")
    if out_dir:
        parser.add_argument("--out-dir", default="out", help="where <step>.json is written (default: out)")
    return parser


def run_main(step: str, parser: argparse.ArgumentParser, run: Run, argv: Sequence[str] | None) -> int:
    """A step's main(): step_runner.run_main with the cloud's and the config's errors known."""
    return step_runner.run_main(step, parser, run, argv, known=CLOUD_ERRORS)


def run_step(
    step: str, parser: argparse.ArgumentParser, run: Run, argv: Sequence[str] | None, environ: Environ
) -> Outcome:
    """One step in-process (the demo runs them so), with the cloud's and the config's errors known."""
    return step_runner.run_step(step, parser, run, argv, environ, CLOUD_ERRORS)


def load_step_config(profile: str | None, environ: Mapping[str, str]) -> Config:
    """The resolved config for a step; checks the values the steps interpret themselves."""
    cfg = load_config(profile, environ)
    load_task_of(cfg)  # an incomplete task module stops every step here, naming the missing piece
    if cfg.vertex.credentials not in CREDENTIAL_KINDS:
        raise ConfigError(f"vertex.credentials = {cfg.vertex.credentials!r}: expected one of {CREDENTIAL_KINDS}")
    if not cfg.vertex.staging_bucket.startswith("gs://"):
        raise ConfigError(f"vertex.staging_bucket = {cfg.vertex.staging_bucket!r}: expected gs://BUCKET")
    return cfg


def print_settings(step: str, cfg: Config, settings: dict[str, Any]) -> None:
    """One line with the profile and the resolved values this step uses."""
    shown = " ".join(f"{key}={value}" for key, value in settings.items())
    print(f"{step}: profile={cfg.profile} {shown}", flush=True)


def trained_model_dir(flag: str | None, out_dir: str) -> str:
    """--model-dir, else the model_dir that submit_training left in out/submit_training.json."""
    if flag:
        return flag.rstrip("/")
    previous = Path(out_dir) / "submit_training.json"
    try:
        return str(json.loads(previous.read_text(encoding="utf-8"))["model_dir"]).rstrip("/")
    except FileNotFoundError:
        raise ConfigError(f"pass --model-dir (there is no {previous} from a submit_training run)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"pass --model-dir ({previous} holds no model_dir: {exc!r})") from None
