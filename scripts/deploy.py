"""Canary-deploy a model version: python -m scripts.deploy (--version V | --alias A | --git-sha S) [--dry-run]

The version is deployed beside production at [deploy] canary_percent (100 % when nothing serves),
smoke-tested, promoted to 100 % with the `production` alias, and the older deployments are undeployed.
Any failure before promotion restores the previous traffic split and undeploys the new deployment.
--dry-run prints the plan and changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from google.api_core import exceptions as google_exceptions
from google.cloud import aiplatform

from pipeline_config import Config, ConfigError, load_task_of
from scripts.core import cloud, probe, registry, rollout
from scripts.core.step import (
    Environ,
    StepError,
    StepResult,
    add_common_flags,
    load_step_config,
    print_settings,
    run_main,
)

STEP = "deploy"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    add_common_flags(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--version", type=registry.version_reference, help="model version id (or alias)")
    which.add_argument("--alias", type=registry.alias_reference, help="a version alias, e.g. candidate")
    which.add_argument("--git-sha", type=registry.commit_reference, help="the version registered for this commit")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    return parser


def version_ref(args: argparse.Namespace) -> str:
    """What the flags name, as a version id or alias the registry resolves."""
    return args.version or args.alias or registry.sha_alias(args.git_sha)


def trial(cfg: Config, endpoint: aiplatform.Endpoint, version: aiplatform.Model, plan: rollout.Plan) -> dict:
    """Deploy (or re-split) for the trial, smoke-test, promote; any failure restores the previous state."""
    new_id = None
    try:
        if plan.reuse_id:
            deployed_id = plan.reuse_id
            endpoint.update(traffic_split=plan.trial_split)
        else:
            deployed_id = new_id = rollout.deploy_new(cfg, endpoint, version, plan.trial_split)
        share = plan.trial_split[plan.reuse_id or rollout.NEW]
        print(f"{STEP}: deployed model {deployed_id} takes {share} % of the traffic; smoke-testing it", flush=True)
        t = cfg.training
        task = load_task_of(cfg)
        result, problems = probe.smoke_test(endpoint, deployed_id, cfg.smoke, t.dataset, t.seed, cfg.smoke.count, task)
        smoke = probe.summary(result)
        print(f"{STEP}: smoke test: {smoke}", flush=True)
        if problems:
            raise StepError(f"smoke test failed: {'; '.join(problems)}")
        rollout.promote(endpoint, version, deployed_id)
    except Exception as exc:  # whatever went wrong, production gets its traffic back first
        undone = rollout.rollback_after(endpoint, plan.previous_split, new_id)
        if isinstance(exc, StepError | google_exceptions.GoogleAPICallError | ValueError):
            raise StepError(f"{exc}; rolled back: {undone}") from exc
        print(f"{STEP}: rolled back: {undone}", file=sys.stderr, flush=True)
        raise
    print(probe.walkthrough_lines(result), flush=True)
    return {"deployed_model_id": deployed_id, "smoke": smoke}


def print_plan(cfg: Config, args: argparse.Namespace, ref: str) -> None:
    v = cfg.vertex
    settings = {"model": v.model_display_name, "version": ref, "endpoint": v.endpoint_display_name}
    settings.update(canary_percent=cfg.deploy.canary_percent, machine=v.deploy_machine_type)
    settings.update(replicas=f"{v.deploy_min_replicas}-{v.deploy_max_replicas}", dry_run=args.dry_run)
    print_settings(STEP, cfg, settings)


def run(args: argparse.Namespace, environ: Environ) -> StepResult:
    cfg = load_step_config(args.profile, environ)
    if not 1 <= cfg.deploy.canary_percent <= 100:
        raise ConfigError(f"deploy.canary_percent = {cfg.deploy.canary_percent}: expected 1-100")
    ref = version_ref(args)
    print_plan(cfg, args, ref)
    cloud.connect(cfg, environ)
    v = cfg.vertex
    version = registry.require_version(v.model_display_name, ref)
    endpoint = registry.find_endpoint(v.endpoint_display_name)
    current = rollout.deployments(endpoint)
    plan = rollout.plan_rollout(current, version.resource_name, version.version_id, cfg.deploy.canary_percent)
    steps = rollout.describe_plan(plan, f"v{version.version_id}", current, smoke_test=True)
    new_endpoint = " (new endpoint)" if endpoint is None else ""
    print(f"{STEP}: plan for {registry.describe(version)} on {v.endpoint_display_name}{new_endpoint}", *steps,
          sep="\n  ", flush=True)  # fmt: skip
    record: dict[str, Any] = {"model": version.resource_name, "version_id": version.version_id, "plan": steps}
    record.update(dry_run=args.dry_run, noop=plan.noop)
    if args.dry_run or plan.noop:
        record["endpoint"] = endpoint.resource_name if endpoint else None
        return finish(cfg, args, record, endpoint)
    if endpoint is None:
        endpoint = aiplatform.Endpoint.create(display_name=v.endpoint_display_name)
    record.update(trial(cfg, endpoint, version, plan))
    rollout.retire(endpoint, record["deployed_model_id"], plan.retire, STEP)
    record.update(endpoint=endpoint.resource_name, undeployed=list(plan.retire))
    return finish(cfg, args, record, endpoint)


def finish(
    cfg: Config, args: argparse.Namespace, record: dict[str, Any], endpoint: aiplatform.Endpoint | None
) -> StepResult:
    """deploy.json with the endpoint's split and predict URL; GitHub's outputs; the plan as the summary."""
    if endpoint is not None:
        record.update(
            traffic_split=endpoint.traffic_split, predict_url=rollout.predict_url(cfg, endpoint.resource_name)
        )
    keys = ("endpoint", "version_id", "deployed_model_id", "predict_url")
    state = "dry run" if args.dry_run else "no change" if record["noop"] else "deployed"
    print(f"{STEP}: {state}: v{record['version_id']}, traffic {record.get('traffic_split', {})}", flush=True)
    return StepResult(
        record=record,
        outputs={key: record[key] for key in keys if record.get(key)},
        summary=f"### Deploy ({state})\n\n" + "\n".join(f"- {step}" for step in record["plan"]),
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(STEP, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
