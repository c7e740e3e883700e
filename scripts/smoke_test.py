"""Send real test digits through the endpoint and check the answers: python -m scripts.smoke_test [--count N]

The checks and the examples are scripts.core.probe's: one row of probabilities per example (one per class of the
task) summing to 1, accuracy
>= [smoke] min_accuracy, p95 latency <= [smoke] p95_latency_ms. Ends like the walkthrough:
`real : 7` / `predicted : 7` for test digit 0. With --deployed-model-id only that deployed model's
answers count (deploy uses this on a canary holding a few percent of the traffic).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from typing import Any

from pipeline_config import ConfigError, load_task_of
from scripts.core import cloud, probe, registry
from scripts.core.step import (
    Environ,
    StepError,
    StepResult,
    add_common_flags,
    load_step_config,
    print_settings,
    run_main,
)

STEP = "smoke_test"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    add_common_flags(parser)
    parser.add_argument("--deployed-model-id", help="count only this deployed model's answers (default: any)")
    parser.add_argument("--count", type=int, help="test digits to send (default: [smoke] count)")
    return parser


def run(args: argparse.Namespace, environ: Environ) -> StepResult:
    cfg = load_step_config(args.profile, environ)
    count = args.count if args.count is not None else cfg.smoke.count
    if count < 1:
        raise ConfigError(f"--count {count}: expected at least 1 digit")
    print_settings(
        STEP, cfg, {"endpoint": cfg.vertex.endpoint_display_name, "count": count, **dataclasses.asdict(cfg.smoke)}
    )
    cloud.connect(cfg, environ)
    endpoint = registry.find_endpoint(cfg.vertex.endpoint_display_name)
    if endpoint is None:
        raise StepError(f"no endpoint named {cfg.vertex.endpoint_display_name!r}")
    t = cfg.training
    result, problems = probe.smoke_test(
        endpoint, args.deployed_model_id, cfg.smoke, t.dataset, t.seed, count, load_task_of(cfg)
    )
    report = {"endpoint": endpoint.resource_name, "deployed_model_id": args.deployed_model_id, **probe.summary(result)}
    report.update(passed=not problems, problems=problems)
    print(
        f"{STEP}: {report['digits']} digits, accuracy {report['accuracy']}, "
        f"p95 {report['p95_latency_ms']} ms, {report['calls']} calls",
        flush=True,
    )
    if not problems:
        print(probe.walkthrough_lines(result), flush=True)
    return StepResult(
        record=report,
        outputs={"passed": not problems, "accuracy": report["accuracy"]},
        summary=summary_markdown(report, problems),
        failure="; ".join(problems) or None,
    )


def summary_markdown(report: dict[str, Any], problems: list[str]) -> str:
    """The job summary: a one-row table and every problem found."""
    return (
        f"### Smoke test {'passed' if not problems else 'failed'}\n\n| digits | accuracy | p95 latency | calls |\n"
        f"|---|---|---|---|\n| {report['digits']} | {report['accuracy']} | {report['p95_latency_ms']} ms | "
        f"{report['calls']} |\n" + "".join(f"\n- {problem}" for problem in problems)
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(STEP, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
