"""Canary-deploy a model version: python -m scripts.deploy (--version V | --alias A | --git-sha S) [--dry-run]

The version is deployed beside production at [deploy] canary_percent (100 % when nothing serves),
smoke-tested, promoted to 100 % with the `production` alias, and the older deployments are undeployed.
Any failure before promotion restores the previous traffic split and undeploys the new deployment.
--dry-run prints the plan and changes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from google.api_core import exceptions as google_exceptions
from google.cloud import aiplatform

from pipeline_config import Config, ConfigError
from scripts import common, registry, rollout, smoke_test

STEP = "deploy"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    common.add_common_flags(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--version", help="model version id")
    which.add_argument("--alias", help="a version alias, e.g. candidate")
    which.add_argument("--git-sha", help="the version registered for this commit")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    return parser


def version_ref(args: argparse.Namespace) -> str:
    """What the flags name, as a version id or alias the registry resolves."""
    return args.version or args.alias or registry.sha_alias(args.git_sha.strip().lower())


def deployments(endpoint: aiplatform.Endpoint | None) -> list[rollout.Deployed]:
    """The endpoint's deployed models with their traffic shares (none for an endpoint not created yet)."""
    if endpoint is None:
        return []
    split = endpoint.traffic_split  # re-reads the endpoint
    found = []
    for deployed in endpoint.list_models():
        model, _, version = deployed.model.partition("@")
        found.append(
            rollout.Deployed(deployed.id, model, deployed.model_version_id or version, split.get(deployed.id, 0))
        )
    return found


def predict_url(cfg: Config, endpoint_name: str) -> str:
    """The REST predict URL: vertex-local's when api_endpoint is set, else the region's Vertex host."""
    host = cfg.vertex.api_endpoint or f"https://{cfg.vertex.region}-aiplatform.googleapis.com"
    return f"{host.rstrip('/')}/v1/{endpoint_name}:predict"


def deploy_new(cfg: Config, endpoint: aiplatform.Endpoint, version: aiplatform.Model, split: dict[str, int]) -> str:
    """Deploy the version with the trial split; returns the new deployed model id."""
    before = {d.id for d in endpoint.list_models()}
    endpoint.deploy(
        model=version,
        deployed_model_display_name=f"{version.display_name}-v{version.version_id}",
        traffic_split=split,
        machine_type=cfg.vertex.deploy_machine_type,
        min_replica_count=cfg.vertex.deploy_min_replicas,
        max_replica_count=cfg.vertex.deploy_max_replicas,
        sync=True,
    )
    new = [d.id for d in endpoint.list_models() if d.id not in before]
    if len(new) != 1:
        raise common.StepError(f"expected one new deployed model on {endpoint.resource_name}, found {new}")
    return new[0]


def promote(endpoint: aiplatform.Endpoint, version: aiplatform.Model, deployed_id: str) -> None:
    """100 % of the traffic to the version, then the production alias onto it."""
    endpoint.update(traffic_split={deployed_id: 100})
    registry.move_alias(version, registry.PRODUCTION)


def retire(endpoint: aiplatform.Endpoint, keep_id: str, old_ids: Sequence[str], step: str = STEP) -> None:
    """Undeploy the older deployments (they take no traffic any more)."""
    for old in old_ids:
        endpoint.undeploy(old, traffic_split={keep_id: 100})
        print(f"{step}: undeployed deployed model {old}", flush=True)


def restore(endpoint: aiplatform.Endpoint, previous: dict[str, int], new_id: str | None) -> None:
    """Put the previous split back first (so no request reaches the new model), then undeploy it."""
    if previous:
        endpoint.update(traffic_split=previous)
    if new_id is not None:
        endpoint.undeploy(new_id, traffic_split=previous or None)


def trial(cfg: Config, endpoint: aiplatform.Endpoint, version: aiplatform.Model, plan: rollout.Plan) -> dict:
    """Deploy (or re-split) for the trial, smoke-test, promote; any failure restores the previous state."""
    new_id = None
    try:
        if plan.reuse_id:
            deployed_id = plan.reuse_id
            endpoint.update(traffic_split=plan.trial_split)
        else:
            deployed_id = new_id = deploy_new(cfg, endpoint, version, plan.trial_split)
        share = plan.trial_split[plan.reuse_id or rollout.NEW]
        print(
            f"{STEP}: deployed model {deployed_id} takes {share} % of the traffic; smoke-testing it",
            flush=True,
        )
        t = cfg.training
        result, problems = smoke_test.smoke_test(endpoint, deployed_id, cfg.smoke, t.dataset, t.seed, cfg.smoke.count)
        smoke = smoke_test.summary(result)
        print(f"{STEP}: smoke test: {smoke}", flush=True)
        if problems:
            raise common.StepError(f"smoke test failed: {'; '.join(problems)}")
        promote(endpoint, version, deployed_id)
    except Exception as exc:  # whatever went wrong, production gets its traffic back first
        undone = rollback_after(endpoint, plan.previous_split, new_id)
        if isinstance(exc, common.StepError | google_exceptions.GoogleAPICallError | ValueError):
            raise common.StepError(f"{exc}; rolled back: {undone}") from exc
        print(f"{STEP}: rolled back: {undone}", file=sys.stderr, flush=True)
        raise
    print(smoke_test.walkthrough_lines(result), flush=True)
    return {"deployed_model_id": deployed_id, "smoke": smoke}


def rollback_after(endpoint: aiplatform.Endpoint, previous: dict[str, int], new_id: str | None) -> str:
    """Undo a failed trial; says what was done (or what could not be undone)."""
    try:
        restore(endpoint, previous, new_id)
    except (google_exceptions.GoogleAPICallError, ValueError) as exc:
        return f"restoring the traffic split {previous} FAILED too ({exc}); check {endpoint.resource_name}"
    done = f"traffic split {previous or '{}'} restored"
    return done + (f", deployed model {new_id} undeployed" if new_id else "")


def run(args: argparse.Namespace) -> int:
    cfg = common.load_step_config(args.profile, os.environ)
    if not 1 <= cfg.deploy.canary_percent <= 100:
        raise ConfigError(f"deploy.canary_percent = {cfg.deploy.canary_percent}: expected 1-100")
    ref = version_ref(args)
    v = cfg.vertex
    common.print_settings(
        STEP,
        cfg,
        {
            "model": v.model_display_name,
            "version": ref,
            "endpoint": v.endpoint_display_name,
            "canary_percent": cfg.deploy.canary_percent,
            "machine": v.deploy_machine_type,
            "replicas": f"{v.deploy_min_replicas}-{v.deploy_max_replicas}",
            "dry_run": args.dry_run,
        },
    )
    common.connect(cfg, os.environ)
    version = registry.require_version(v.model_display_name, ref)
    endpoint = registry.find_endpoint(v.endpoint_display_name)
    current = deployments(endpoint)
    plan = rollout.plan_rollout(current, version.resource_name, version.version_id, cfg.deploy.canary_percent)
    steps = rollout.describe_plan(plan, f"v{version.version_id}", current, smoke_test=True)
    print(
        f"{STEP}: plan for {registry.describe(version)} on {v.endpoint_display_name}"
        + (" (new endpoint)" if endpoint is None else ""),
        *steps,
        sep="\n  ",
        flush=True,
    )
    result: dict[str, Any] = {
        "model": version.resource_name,
        "version_id": version.version_id,
        "plan": steps,
        "dry_run": args.dry_run,
        "noop": plan.noop,
    }
    if args.dry_run or plan.noop:
        result["endpoint"] = endpoint.resource_name if endpoint else None
        return finish(cfg, args, result, endpoint)
    if endpoint is None:
        endpoint = aiplatform.Endpoint.create(display_name=v.endpoint_display_name)
    result.update(trial(cfg, endpoint, version, plan))
    retire(endpoint, result["deployed_model_id"], plan.retire)
    result.update(endpoint=endpoint.resource_name, undeployed=list(plan.retire))
    return finish(cfg, args, result, endpoint)


def finish(cfg: Config, args: argparse.Namespace, result: dict[str, Any], endpoint: aiplatform.Endpoint | None) -> int:
    if endpoint is not None:
        result.update(traffic_split=endpoint.traffic_split, predict_url=predict_url(cfg, endpoint.resource_name))
    common.write_out(args.out_dir, STEP, result)
    keys = ("endpoint", "version_id", "deployed_model_id", "predict_url")
    outputs = {key: result[key] for key in keys if result.get(key)}
    state = "dry run" if args.dry_run else "no change" if result["noop"] else "deployed"
    common.publish(
        os.environ.get("GITHUB_OUTPUT"),
        os.environ.get("GITHUB_STEP_SUMMARY"),
        outputs,
        f"### Deploy ({state})\n\n" + "\n".join(f"- {step}" for step in result["plan"]),
    )
    print(f"{STEP}: {state}: v{result['version_id']}, traffic {result.get('traffic_split', {})}", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return common.run_main(STEP, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
