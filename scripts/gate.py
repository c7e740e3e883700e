"""Champion/challenger gate on the same test digits: python -m scripts.gate --model-dir gs://.../model

Production's SavedModel (the version holding the `production` alias) and the candidate's are run now on the
candidate's test split, and compared digit by digit. Fails when accuracy < [gate] min_accuracy, or when the
candidate is more than max_drop below production AND McNemar's exact test finds the difference significant at
alpha; optionally when it got more than max_latency_ratio times slower. Anything unreadable fails closed.
Exit 0 pass, 1 fail; the verdict goes to out/gate.json (README: "What the steps hand each other").
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import requests
from google.api_core.exceptions import GoogleAPIError

from pipeline_config import Config, ConfigError, Gate, load_task_of, range_problem
from scripts.comparison import head_to_head
from scripts.comparison.savedmodel import first_line
from scripts.comparison.verdict_lines import fmt_p, lines, summary
from scripts.core import cloud
from scripts.core.run_metrics import fmt
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

STEP = "gate"
TOLERANCE = 1e-9  # 0.978 - 0.005 is 0.9730000000000001 in floats; 0.973 must still pass


@dataclasses.dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str
    rule: str  # which rule decided: see decide()
    required_accuracy: float


@dataclasses.dataclass(frozen=True)
class Champion:
    """Production measured now on the candidate's digits."""

    accuracy: float
    p_value: float  # McNemar exact, two-sided
    digits: int
    latency_ratio: float | None = None  # candidate / production time per image, the worse batch size


def threshold_problem(gate: Gate) -> str | None:
    """What is wrong with the thresholds (flags reach here without the loader), or None; nan never passes."""
    for key, value in dataclasses.asdict(gate).items():
        problem = range_problem(f"gate.{key}", value)
        if problem is None and not math.isfinite(value):
            problem = f"gate.{key} = {value!r}: expected a finite number"
        if problem is not None:
            return problem
    return None


def decide(accuracy: float, production: Champion | None, gate: Gate) -> Verdict:
    """The whole gate decision. Every comparison is written `not (good)`, so a nan anywhere fails the gate."""
    floor, drop = gate.min_accuracy, gate.max_drop
    problem = threshold_problem(gate)
    if problem is not None:
        return Verdict(False, f"fails closed: {problem}", "thresholds", floor)
    if not accuracy + TOLERANCE >= floor:
        return Verdict(False, f"accuracy {fmt(accuracy)} < minimum {fmt(floor)}", "min_accuracy", floor)
    if production is None:
        return Verdict(True, f"accuracy {fmt(accuracy)} >= minimum {fmt(floor)} (no production model yet)",
                       "first_release", floor)  # fmt: skip
    prod, p = production.accuracy, production.p_value
    if not (0 <= prod <= 1 and 0 <= p <= 1):
        reason = f"fails closed: production accuracy {prod} or p-value {p} is not a number in [0, 1]"
        return Verdict(False, reason, "fails_closed", floor)
    required = max(floor, prod - drop)
    against = f"production {fmt(prod)} - {fmt(drop)} on the same {production.digits} digits"
    test = f"McNemar p = {fmt_p(p)}"
    close_enough = accuracy + TOLERANCE >= prod - drop
    if not close_enough and not p >= gate.alpha:
        reason = f"accuracy {fmt(accuracy)} < {against}, and significantly so ({test} < alpha {gate.alpha})"
        return Verdict(False, reason, "significant_drop", required)
    ratio, limit = production.latency_ratio, gate.max_latency_ratio
    if limit > 0 and not (ratio is not None and ratio <= limit):
        reason = f"inference time per image x{ratio} of production's > max_latency_ratio {limit}"
        return Verdict(False, reason, "max_latency_ratio", required)
    if not close_enough:
        reason = f"accuracy {fmt(accuracy)} < {against}, but within noise ({test} >= alpha {gate.alpha})"
        return Verdict(True, reason, "within_noise", required)
    reason = f"accuracy {fmt(accuracy)} >= minimum {fmt(floor)} and >= {against} ({test})"
    return Verdict(True, reason, "not_worse", required)


def finite_float(text: str) -> float:
    """argparse type: a finite number (flags do not go through the config loader's checks)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    add_common_flags(parser)
    parser.add_argument("--model-dir", help="the run's model dir, gs:// or local (default: from submit_training.json)")
    for key in Gate.__dataclass_fields__:
        parser.add_argument(f"--{key.replace('_', '-')}", type=finite_float, help=f"overrides [gate] {key}")
    return parser


def thresholds(cfg: Config, args: argparse.Namespace) -> Gate:
    """[gate] with the flags applied; values outside their range are a usage error (exit 2)."""
    overrides = {key: getattr(args, key) for key in Gate.__dataclass_fields__ if getattr(args, key) is not None}
    gate = dataclasses.replace(cfg.gate, **overrides)
    problem = threshold_problem(gate)
    if problem is not None:
        raise ConfigError(problem)
    return gate


def verdict_json(verdict: Verdict, gate: Gate, evidence: head_to_head.Evidence) -> dict[str, Any]:
    return {
        "passed": verdict.passed,
        "reason": verdict.reason,
        "rule": verdict.rule,
        "candidate": evidence.candidate,
        "production": evidence.production,
        "test_split": evidence.test_split,
        "comparison": evidence.comparison,
        "cost_ratio": evidence.cost_ratio,
        "thresholds": {**dataclasses.asdict(gate), "required_accuracy": round(verdict.required_accuracy, 6)},
    }


def judge(evidence: head_to_head.Evidence, gate: Gate) -> Verdict:
    """decide() on what was measured."""
    comparison, production = evidence.comparison, evidence.production
    if evidence.candidate is None:  # gather() fills it first; without it there is nothing to pass
        return Verdict(False, "fails closed: the candidate was not measured", "fails_closed", gate.min_accuracy)
    against = None
    if comparison is not None and production is not None:
        ratio = head_to_head.latency_ratio(evidence.cost_ratio)
        against = Champion(production["accuracy"], comparison["p_value"], comparison["digits"], ratio)
    return decide(evidence.candidate["accuracy"], against, gate)


def run(args: argparse.Namespace, environ: Environ) -> StepResult:
    cfg = load_step_config(args.profile, environ)
    gate = thresholds(cfg, args)
    model_dir = trained_model_dir(args.model_dir, args.out_dir)
    settings = {"model_dir": model_dir, **dataclasses.asdict(gate), "model": cfg.vertex.model_display_name}
    print_settings(STEP, cfg, settings)
    cloud.connect(cfg, environ)
    evidence = head_to_head.Evidence()
    try:
        client, task = cloud.storage_client(cfg), load_task_of(cfg)
        head_to_head.gather(evidence, model_dir, cfg.vertex.model_display_name, gate.alpha, client, task)
    except (StepError, GoogleAPIError, requests.exceptions.ConnectionError) as exc:
        # Whatever stopped the comparison (a bad file, the registry refusing, no service), the gate says no
        # and gate.json says why.
        reason = str(exc) if isinstance(exc, StepError) else f"{type(exc).__name__}: {first_line(exc)}"
        verdict = Verdict(False, f"fails closed: {reason}", "fails_closed", gate.min_accuracy)
    else:
        verdict = judge(evidence, gate)
    return finish(verdict, verdict_json(verdict, gate, evidence), evidence.files)


def finish(verdict: Verdict, record: dict[str, Any], files: dict[str, Any]) -> StepResult:
    """Print the verdict; the result carries gate.json, GitHub's outputs and, for a "no", the failure."""
    shown = lines(record)
    for line in shown:
        print(f"{STEP}: {line}", flush=True)
    candidate, comparison = record["candidate"] or {}, record["comparison"] or {}
    outputs = {"passed": verdict.passed, "accuracy": candidate.get("accuracy", ""), "rule": verdict.rule}
    outputs.update(required_accuracy=round(verdict.required_accuracy, 6), p_value=comparison.get("p_value", ""))
    return StepResult(
        record=record,
        outputs=outputs,
        summary=summary(verdict.passed, shown),
        files=files,
        failure=None if verdict.passed else verdict.reason,
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(STEP, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
