"""The one error path every step runs through: exit codes, the step's errors, its result written. Standard library only.

A step's main() is `return run_main(STEP, build_parser(), run, argv)`: run(args, environ) RETURNS a StepResult,
which run_step writes (out/<step>.json, $GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY) and turns into the exit status:
0 success; 1 a known failure (a refusal, a failed check, a remote error), as one stderr line `<step>: <reason>`;
2 a usage or config error, the same way. Unexpected exceptions keep their traceback. The steps that run on a bare
runner's Python (pr_comment, release_guard, release_card) use this module directly; scripts.core.step adds the
cloud's errors and the config on top of it.
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

EXIT_OK = 0
EXIT_FAILED = 1  # a refusal, a failed check, a remote error
EXIT_USAGE = 2  # a usage or config error (argparse's own status for bad flags)
Environ = MutableMapping[str, str]


class StepError(Exception):
    """A known failure of a step: one stderr line `<step>: <reason>`, exit status 1 (or `status`)."""

    status = EXIT_FAILED

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        if status is not None:
            self.status = status


class UsageError(StepError):
    """A usage or config error that argparse cannot see (a flag's value out of range, no token): exit status 2."""

    status = EXIT_USAGE


@dataclasses.dataclass(frozen=True)
class KnownError:
    """An exception a library raises that a step reports as one line: its type, exit status and wording."""

    kind: type[Exception]
    status: int = EXIT_FAILED
    template: str = "{}"  # the stderr line after `<step>: `; {} is the exception's message


@dataclasses.dataclass(frozen=True)
class StepResult:
    """What a step hands on; run_step writes all of it, then fails the step when `failure` is set."""

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


def run_main(
    step: str,
    parser: argparse.ArgumentParser,
    run: Run,
    argv: Sequence[str] | None,
    environ: Environ | None = None,
    known: Sequence[KnownError] = (),
) -> int:
    """A step's main(): run it against the process environment (or `environ`) and return its exit status."""
    return run_step(step, parser, run, argv, os.environ if environ is None else environ, known).status


def run_step(
    step: str,
    parser: argparse.ArgumentParser,
    run: Run,
    argv: Sequence[str] | None,
    environ: Environ,
    known: Sequence[KnownError] = (),
) -> Outcome:
    """Parse argv, run the step and write its result, turning known failures into one stderr line.

    `known` names the library errors the step may raise besides StepError, each with its status; the first
    that matches wins, so a subclass goes before its base. argparse's own exits (usage errors: 2, --help: 0)
    are returned, not raised, so that `python -m scripts.demo` can run every step in-process.
    """
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return Outcome(exc.code if isinstance(exc.code, int) else EXIT_USAGE, None)
    result = None
    try:
        result = run(args, environ)
        write_result(step, getattr(args, "out_dir", None), result, environ)
    except StepError as exc:
        return Outcome(fail(step, str(exc), exc.status), result)
    except Exception as exc:
        entry = next((entry for entry in known if isinstance(exc, entry.kind)), None)
        if entry is None:
            raise
        return Outcome(fail(step, entry.template.format(exc), entry.status), result)
    return Outcome(fail(step, result.failure, EXIT_FAILED) if result.failure else EXIT_OK, result)


def fail(step: str, reason: str, status: int) -> int:
    """The one stderr line a failed step leaves; returns its exit status."""
    print(f"{step}: {' '.join(reason.split())}", file=sys.stderr, flush=True)
    return status


def say(step: str, line: str) -> None:
    """One line of progress on stdout, `<step>: <line>`."""
    print(f"{step}: {line}", flush=True)


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
