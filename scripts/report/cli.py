"""The report's command line: read and check the inputs, write the Markdown, the charts and pr-number.txt.

    python -m scripts.report --metrics out/model/metrics.json --verdict out/gate.json \
        --production out/production_metrics.json --output out/report.md --plots-dir out/plots

`--production` may name a file that does not exist: the gate writes it only when a production model
exists, so its absence means "first run". `--production-from-release` then falls back to the latest
GitHub Release's model card (metrics.json), for runs without cloud access (pull requests), unless
`--baseline-unavailable` already says why production could not be had (scripts.seed_production's
`unavailable` output; empty means nothing went wrong). When the gate
compared the candidate with production, it left gate_regressions.json beside gate.json: those digits become
regressions.png in --plots-dir.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scripts import release_card
from scripts.core.step_runner import EXIT_USAGE, Environ, KnownError, StepResult, run_main
from scripts.github.releases import RELEASE_ERRORS
from scripts.report.render import render_report, write_plots
from scripts.report.validate import (
    ReportError,
    load_json,
    task_of,
    validate_metrics,
    validate_regressions,
    validate_verdict,
)

STEP = "report"
# An input named on the command line that cannot be used is a usage error; gh missing or failing is the step's.
REPORT_ERRORS = (KnownError(ReportError, EXIT_USAGE), *RELEASE_ERRORS)

PR_NUMBER_FILE = "pr-number.txt"
REGRESSIONS_FILE = "gate_regressions.json"  # the gate writes it beside gate.json when it compared two models


def load_production(
    path: Path | None, from_release: bool, repo: str | None, unavailable: str | None = None
) -> tuple[dict[str, Any] | None, str | None]:
    """Production metrics from the gate's file, else (if asked) the latest Release, else None; and, when the
    latest Release could not be read (or `unavailable` already says so), why: the report then says the baseline
    is unavailable, not "first run", and still renders (the gate alone decides whether the job fails)."""
    if path is not None and path.exists():
        return validate_metrics(load_json(path), str(path)), None
    if unavailable:
        return None, unavailable
    if not from_release:
        return None, None
    with tempfile.TemporaryDirectory() as scratch:
        try:
            found = release_card.download_latest_metrics(Path(scratch), repo)
            if found is None:
                print("report: no GitHub Release with a metrics.json yet")
                return None, None
            metrics = validate_metrics(load_json(found), "latest release metrics.json")
        except (release_card.ReleaseUnavailable, ReportError) as exc:
            print(f"::warning::report: production baseline unavailable: {exc}")
            return None, str(exc)
        print(f"report: production metrics from the latest GitHub Release ({found.name})")
        return metrics, None


def pr_number(text: str) -> int:
    """A pull request number: a positive integer (report-comment.yml refuses anything else)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a pull request number")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.report", description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=Path, required=True, help="the candidate's metrics.json")
    parser.add_argument("--production", type=Path, help="production's metrics.json (absent = first run)")
    parser.add_argument(
        "--production-from-release",
        action="store_true",
        help="without --production, use the latest GitHub Release's metrics.json",
    )
    parser.add_argument(
        "--baseline-unavailable",
        metavar="REASON",
        help="why production could not be fetched (empty: it could); the report says so instead of 'first run'",
    )
    parser.add_argument("--verdict", type=Path, help="the gate's gate.json")
    parser.add_argument("--run-url", help="link to the workflow run")
    parser.add_argument("--job", help="the training job's resource name")
    parser.add_argument("--output", type=Path, required=True, help="where to write the Markdown")
    parser.add_argument("--plots-dir", type=Path, help="where to write the PNG charts")
    parser.add_argument(
        "--pr-number",
        type=pr_number,
        help="also write it to pr-number.txt beside --output, for report-comment.yml",
    )
    return parser


def main(argv: Sequence[str] | None = None, environ: Environ | None = None) -> int:
    return run_main(STEP, build_parser(), run, argv, environ, REPORT_ERRORS)


def run(args: argparse.Namespace, environ: Environ) -> StepResult:
    """Write the report (and its charts); ReportError (exit 2) when an input cannot be used."""
    candidate = validate_metrics(load_json(args.metrics), str(args.metrics))
    classes = task_of(candidate, str(args.metrics)).num_classes
    verdict = validate_verdict(load_json(args.verdict), str(args.verdict), classes) if args.verdict else None
    production, unavailable = load_production(
        args.production,
        args.production_from_release,
        environ.get("GITHUB_REPOSITORY"),
        " ".join((args.baseline_unavailable or "").split()) or None,
    )
    regressions = load_regressions(args.verdict, verdict)
    markdown = render_report(candidate, production, verdict, args.run_url, args.job, unavailable)
    write_report(args, markdown)
    if args.plots_dir:
        for path in write_plots(candidate, production, args.plots_dir, regressions):
            print(f"{STEP}: wrote {path}")
    return StepResult(summary=markdown)  # the job summary, when GitHub set one


def load_regressions(verdict_path: Path | None, verdict: dict[str, Any] | None) -> dict[str, Any] | None:
    """The digits the gate found production right and the candidate wrong, when it compared the two models."""
    if verdict_path is None or not (verdict or {}).get("comparison"):
        return None
    path = verdict_path.parent / REGRESSIONS_FILE
    if not path.exists():
        print(f"report: no {REGRESSIONS_FILE} beside {verdict_path}: no picture of the regressed digits")
        return None
    return validate_regressions(load_json(path), str(path))


def write_report(args: argparse.Namespace, markdown: str) -> None:
    """The Markdown, and pr-number.txt beside it when asked."""
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(markdown, encoding="utf-8")
    print(f"{STEP}: wrote {args.output}")
    if args.pr_number is not None:
        (args.output.parent / PR_NUMBER_FILE).write_text(f"{args.pr_number}\n", encoding="utf-8")
