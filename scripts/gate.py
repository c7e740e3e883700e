"""Champion/challenger gate on test accuracy: python -m scripts.gate --model-dir gs://.../model

Passes only if the candidate's accuracy >= [gate] min_accuracy AND >= production's accuracy - max_drop
(production = the version holding the `production` alias). Missing or corrupt metrics fail closed.
Exit 0 pass, 1 fail; the verdict goes to out/gate.json, production's metrics to out/production_metrics.json.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from typing import Any

from google.cloud import storage

from pipeline_config import Config, Gate
from scripts import cloud, registry
from scripts.contract import (
    Environ,
    StepError,
    StepResult,
    add_common_flags,
    load_step_config,
    print_settings,
    run_main,
    trained_model_dir,
)
from scripts.run_metrics import Metrics, fmt, read_run_metrics

STEP = "gate"
TOLERANCE = 1e-9  # 0.978 - 0.005 is 0.9730000000000001 in floats; 0.973 must still pass


@dataclasses.dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str
    required_accuracy: float


def decide(candidate: Metrics, production: Metrics | None, gate: Gate) -> Verdict:
    """The whole gate decision, with a reason that shows both figures."""
    acc, floor = candidate.accuracy, gate.min_accuracy
    if acc + TOLERANCE < floor:
        return Verdict(False, f"accuracy {fmt(acc)} < minimum {fmt(floor)}", floor)
    if production is None:
        return Verdict(True, f"accuracy {fmt(acc)} >= minimum {fmt(floor)} (no production model yet)", floor)
    prod, drop = production.accuracy, gate.max_drop
    required = max(floor, prod - drop)
    against = f"production {fmt(prod)} - {fmt(drop)}"
    if acc + TOLERANCE < prod - drop:
        return Verdict(False, f"accuracy {fmt(acc)} < {against} = {fmt(prod - drop)}", required)
    return Verdict(True, f"accuracy {fmt(acc)} >= minimum {fmt(floor)} and >= {against}", required)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    add_common_flags(parser)
    parser.add_argument("--model-dir", help="the run's model dir, gs:// or local (default: from submit_training.json)")
    parser.add_argument("--min-accuracy", type=float, help="overrides [gate] min_accuracy")
    parser.add_argument("--max-drop", type=float, help="overrides [gate] max_drop")
    return parser


def thresholds(cfg: Config, args: argparse.Namespace) -> Gate:
    overrides = {"min_accuracy": args.min_accuracy, "max_drop": args.max_drop}
    return dataclasses.replace(cfg.gate, **{key: value for key, value in overrides.items() if value is not None})


def verdict_json(verdict: Verdict, gate: Gate, candidate: Metrics | None, production: dict | None) -> dict:
    return {
        "passed": verdict.passed,
        "reason": verdict.reason,
        "candidate": dataclasses.asdict(candidate) if candidate else None,
        "production": production,
        "thresholds": {**dataclasses.asdict(gate), "required_accuracy": round(verdict.required_accuracy, 6)},
    }


def load_production(cfg: Config, client: storage.Client) -> tuple[Metrics, dict[str, Any], dict[str, Any]] | None:
    """Production's checked figures, its block of gate.json and its metrics.json as written; None before one."""
    version = registry.production_version(cfg.vertex.model_display_name)
    if version is None:
        return None
    raw, metrics = read_run_metrics(version.uri.rstrip("/"), client)
    block = {**dataclasses.asdict(metrics), "version_id": version.version_id, "model": version.resource_name}
    return metrics, block, raw


def run(args: argparse.Namespace, environ: Environ) -> StepResult:
    cfg = load_step_config(args.profile, environ)
    gate = thresholds(cfg, args)
    model_dir = trained_model_dir(args.model_dir, args.out_dir)
    settings = {"model_dir": model_dir, "min_accuracy": gate.min_accuracy, "max_drop": gate.max_drop}
    print_settings(STEP, cfg, {**settings, "model": cfg.vertex.model_display_name})
    cloud.connect(cfg, environ)
    client = cloud.storage_client(cfg)
    candidate, production, files = None, None, {}
    try:
        files["candidate_metrics"], candidate = read_run_metrics(model_dir, client)
        production = load_production(cfg, client)
    except StepError as exc:
        verdict = Verdict(False, f"fails closed: {exc}", gate.min_accuracy)
    else:
        verdict = decide(candidate, production[0] if production else None, gate)
    if production:
        files["production_metrics"] = production[2]
    return finish(verdict, verdict_json(verdict, gate, candidate, production[1] if production else None), files)


def finish(verdict: Verdict, record: dict[str, Any], files: dict[str, Any]) -> StepResult:
    """Print the verdict; the result carries gate.json, GitHub's outputs and, for a "no", the failure."""
    candidate, production = record["candidate"], record["production"]
    lines = [f"candidate accuracy {fmt(candidate['accuracy'])} ({candidate['model_dir']})" if candidate else ""]
    if production:
        lines.append(f"production v{production['version_id']} accuracy {fmt(production['accuracy'])}")
    lines.append(f"{'PASSED' if verdict.passed else 'FAILED'}: {verdict.reason}")
    for line in filter(None, lines):
        print(f"{STEP}: {line}", flush=True)
    outputs = {"passed": verdict.passed, "accuracy": candidate["accuracy"] if candidate else ""}
    outputs["required_accuracy"] = round(verdict.required_accuracy, 6)
    mark = "passed" if verdict.passed else "failed"
    return StepResult(
        record=record,
        outputs=outputs,
        summary=f"### Gate {mark}\n\n" + "\n".join(f"- {line}" for line in lines if line),
        files=files,
        failure=None if verdict.passed else verdict.reason,
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(STEP, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
