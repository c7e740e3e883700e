"""The step contract: shared flags, the checked config, exit codes, and the one call that writes a step's result.

Each step is `python -m scripts.<step>`. Its main() calls run_main(STEP, build_parser(), run, argv); its
run(args, environ) RETURNS a StepResult, which run_main writes (out/<step>.json, $GITHUB_OUTPUT,
$GITHUB_STEP_SUMMARY) and turns into the exit status: 0 success, 1 a known failure (one stderr line
`<step>: <reason>`), 2 a usage or config error. The environment is read here and handed down.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import requests
from google.api_core import exceptions as google_exceptions

from pipeline_config import Config, ConfigError, load_config

CREDENTIAL_KINDS = ("default", "anonymous", "token")  # ADC (Workload Identity in CI); vertex-local: see cloud.py
Environ = MutableMapping[str, str]


class StepError(Exception):
    """A known failure of a step: shown as one stderr line `<step>: <reason>`, exit status 1."""


@dataclasses.dataclass(frozen=True)
class StepResult:
    """What a step hands on; run_main writes all of it, then fails the step when `failure` is set."""

    record: dict[str, Any] | None = None  # out/<step>.json; None for steps that write none
    outputs: dict[str, Any] = dataclasses.field(default_factory=dict)  # key=value lines for $GITHUB_OUTPUT
    summary: str = ""  # Markdown for $GITHUB_STEP_SUMMARY
    files: dict[str, Any] = dataclasses.field(default_factory=dict)  # other out/<name>.json for later steps
    failure: str | None = None  # written first, then exit 1 with this reason (the gate's "no")


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A step run in-process: its exit status and its result (None when it stopped before having one)."""

    status: int
    result: StepResult | None


Run = Callable[[argparse.Namespace, Environ], StepResult]


def add_common_flags(parser: argparse.ArgumentParser, out_dir: bool = True) -> argparse.ArgumentParser:
    """--profile, and --out-dir for steps that write out/<step>.json."""
    parser.add_argument("--profile", help="pipeline.toml profile (default: $PIPELINE_PROFILE, else local)")
    if out_dir:
        parser.add_argument("--out-dir", default="out", help="where <step>.json is written (default: out)")
    return parser


def run_main(step: str, parser: argparse.ArgumentParser, run: Run, argv: Sequence[str] | None) -> int:
    """A step's main(): run it against the process environment and return its exit status."""
    return run_step(step, parser, run, argv, os.environ).status


def run_step(
    step: str, parser: argparse.ArgumentParser, run: Run, argv: Sequence[str] | None, environ: Environ
) -> Outcome:
    """Parse argv, run the step and write its result, turning known failures into one stderr line.

    argparse's own exits (usage errors: 2, --help: 0) are returned, not raised, so that
    `python -m scripts.demo` can run every step in-process.
    """
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return Outcome(exc.code if isinstance(exc.code, int) else 2, None)
    result = None
    try:
        result = run(args, environ)
        write_result(step, getattr(args, "out_dir", None), result, environ)
    except StepError as exc:
        return Outcome(fail(step, str(exc), 1), result)
    except google_exceptions.GoogleAPIError as exc:
        # The service refused or failed a call (permissions, quota, a bad name, retries exhausted).
        return Outcome(fail(step, f"Google API: {exc}", 1), result)
    except requests.exceptions.ConnectionError as exc:
        return Outcome(fail(step, f"cannot reach the service ({exc}); for vertex-local, is it running?", 1), result)
    except ConfigError as exc:
        return Outcome(fail(step, f"config: {exc}", 2), result)
    return Outcome(fail(step, result.failure, 1) if result.failure else 0, result)


def fail(step: str, reason: str, status: int) -> int:
    """The one stderr line a failed step leaves."""
    print(f"{step}: {' '.join(reason.split())}", file=sys.stderr, flush=True)
    return status


def write_result(step: str, out_dir: str | None, result: StepResult, environ: Mapping[str, str]) -> None:
    """out/<step>.json and the step's other files, then GitHub's outputs and job summary when GitHub set them."""
    if out_dir is not None:
        for name, data in result.files.items():
            write_out(out_dir, name, data)
        if result.record is not None:
            write_out(out_dir, step, result.record)
    publish(environ.get("GITHUB_OUTPUT"), environ.get("GITHUB_STEP_SUMMARY"), result.outputs, result.summary)


def write_out(out_dir: str, name: str, data: Any) -> Path:
    """out/<name>.json: a step's machine-readable result (<step>.json) or a file it saves for later steps."""
    path = Path(out_dir) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def publish(github_output: str | None, step_summary: str | None, outputs: dict[str, Any], markdown: str) -> None:
    """Append key=value lines to $GITHUB_OUTPUT and Markdown to $GITHUB_STEP_SUMMARY, when GitHub set them."""
    if github_output and outputs:
        with open(github_output, "a", encoding="utf-8") as handle:
            for key, value in outputs.items():
                text = str(value).lower() if isinstance(value, bool) else str(value)
                if "\n" in text:
                    raise StepError(f"output {key} holds a newline; $GITHUB_OUTPUT takes one line per key")
                handle.write(f"{key}={text}\n")
    if step_summary and markdown:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(markdown.rstrip("\n") + "\n\n")


def load_step_config(profile: str | None, environ: Mapping[str, str]) -> Config:
    """The resolved config for a step; checks the values the steps interpret themselves."""
    cfg = load_config(profile, environ)
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
