"""Champion/challenger gate on test accuracy: python -m scripts.gate --model-dir gs://.../model

Passes only if the candidate's accuracy >= [gate] min_accuracy AND >= production's accuracy - max_drop
(production = the version holding the `production` alias). Missing or corrupt metrics fail closed.
Exit 0 pass, 1 fail; the verdict goes to out/gate.json, production's metrics to out/production_metrics.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from collections.abc import Sequence
from typing import Any

from pipeline_config import Config, Gate
from scripts import common, registry

STEP = "gate"
TOLERANCE = 1e-9  # 0.978 - 0.005 is 0.9730000000000001 in floats; 0.973 must still pass


@dataclasses.dataclass(frozen=True)
class Metrics:
    accuracy: float
    loss: float
    model_dir: str


@dataclasses.dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str
    required_accuracy: float


def fmt(value: float) -> str:
    """0.97 -> 0.970, 0.9695 -> 0.9695: three decimals, a fourth only when it says something."""
    text = f"{value:.4f}"
    return text[:-1] if text.endswith("0") else text


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


def parse_metrics(data: Any, model_dir: str) -> Metrics:
    """Check the fields the gate relies on; anything else about metrics.json is the report's business."""
    where = f"{model_dir}/metrics.json"
    if not isinstance(data, dict) or data.get("schema_version") != 1:
        raise common.StepError(f"{where} is not a schema_version 1 metrics object")
    values = {key: data.get(key) for key in ("accuracy", "loss")}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise common.StepError(f"{where}: {key} = {value!r} is not a number")
    if not 0.0 <= values["accuracy"] <= 1.0:
        raise common.StepError(f"{where}: accuracy = {values['accuracy']!r} is outside [0, 1]")
    return Metrics(float(values["accuracy"]), float(values["loss"]), model_dir)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    common.add_common_flags(parser)
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


def load_production(cfg: Config, client: Any, out_dir: str) -> tuple[Metrics, dict[str, Any]] | None:
    """Production's metrics.json (beside its artifact), also saved as out/production_metrics.json."""
    version = registry.production_version(cfg.vertex.model_display_name)
    if version is None:
        return None
    model_dir = version.uri.rstrip("/")
    raw = common.read_json(f"{model_dir}/metrics.json", client)
    metrics = parse_metrics(raw, model_dir)
    common.write_out(out_dir, "production_metrics", raw)
    block = {**dataclasses.asdict(metrics), "version_id": version.version_id, "model": version.resource_name}
    return metrics, block


def run(args: argparse.Namespace) -> int:
    cfg = common.load_step_config(args.profile, os.environ)
    gate = thresholds(cfg, args)
    model_dir = common.trained_model_dir(args.model_dir, args.out_dir)
    settings = {"model_dir": model_dir, "min_accuracy": gate.min_accuracy, "max_drop": gate.max_drop}
    common.print_settings(STEP, cfg, {**settings, "model": cfg.vertex.model_display_name})
    common.connect(cfg, os.environ)
    client = common.storage_client(cfg)
    candidate, production = None, None
    try:
        raw = common.read_json(f"{model_dir}/metrics.json", client)
        candidate = parse_metrics(raw, model_dir)
        common.write_out(args.out_dir, "candidate_metrics", raw)
        production = load_production(cfg, client, args.out_dir)
    except common.StepError as exc:
        verdict = Verdict(False, f"fails closed: {exc}", gate.min_accuracy)
    else:
        verdict = decide(candidate, production[0] if production else None, gate)
    finish(args, verdict, verdict_json(verdict, gate, candidate, production[1] if production else None))
    return 0


def finish(args: argparse.Namespace, verdict: Verdict, result: dict[str, Any]) -> None:
    """Write gate.json and GitHub's outputs, print the summary; a failed verdict raises StepError (exit 1)."""
    common.write_out(args.out_dir, STEP, result)
    candidate, production = result["candidate"], result["production"]
    lines = [f"candidate accuracy {fmt(candidate['accuracy'])} ({candidate['model_dir']})" if candidate else ""]
    if production:
        lines.append(f"production v{production['version_id']} accuracy {fmt(production['accuracy'])}")
    lines.append(f"{'PASSED' if verdict.passed else 'FAILED'}: {verdict.reason}")
    for line in filter(None, lines):
        print(f"{STEP}: {line}", flush=True)
    outputs = {"passed": verdict.passed, "accuracy": candidate["accuracy"] if candidate else ""}
    outputs["required_accuracy"] = round(verdict.required_accuracy, 6)
    mark = "passed" if verdict.passed else "failed"
    common.publish(
        os.environ.get("GITHUB_OUTPUT"),
        os.environ.get("GITHUB_STEP_SUMMARY"),
        outputs,
        f"### Gate {mark}\n\n" + "\n".join(f"- {line}" for line in lines if line),
    )
    if not verdict.passed:
        raise common.StepError(verdict.reason)


def main(argv: Sequence[str] | None = None) -> int:
    return common.run_main(STEP, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
