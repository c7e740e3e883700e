"""Put an earlier model version back at 100 % of the endpoint: python -m scripts.rollback --version V

Deploys the version if it is not deployed, straight at 100 % (it served before, and a rollback is
urgent: no canary, no smoke test), moves the `production` alias to it and undeploys every other deployment.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from google.cloud import aiplatform

from scripts.core import cloud, registry, rollout
from scripts.core.step import Environ, StepResult, add_common_flags, load_step_config, print_settings, run_main

STEP = "rollback"
FULL_TRAFFIC = 100  # percent: a rollback skips the canary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    add_common_flags(parser)
    parser.add_argument(
        "--version", required=True, type=registry.version_reference, help="model version id (or alias) to serve again"
    )
    return parser


def run(args: argparse.Namespace, environ: Environ) -> StepResult:
    cfg = load_step_config(args.profile, environ)
    v = cfg.vertex
    settings = {"model": v.model_display_name, "version": args.version, "endpoint": v.endpoint_display_name}
    print_settings(STEP, cfg, {**settings, "machine": v.deploy_machine_type})
    cloud.connect(cfg, environ)
    version = registry.require_version(v.model_display_name, args.version)
    endpoint = registry.find_endpoint(v.endpoint_display_name) or aiplatform.Endpoint.create(
        display_name=v.endpoint_display_name
    )
    current = rollout.deployments(endpoint)
    plan = rollout.plan_rollout(current, version.resource_name, version.version_id, trial_percent=FULL_TRAFFIC)
    steps = rollout.describe_plan(plan, f"v{version.version_id}", current, smoke_test=False)
    print(f"{STEP}: plan for {registry.describe(version)}", *steps, sep="\n  ", flush=True)
    deployed_id = plan.reuse_id or rollout.deploy_new(cfg, endpoint, version, plan.trial_split)
    # Also on a no-op: whatever serves 100 % alone should hold the production alias.
    rollout.promote(endpoint, version, deployed_id)
    rollout.retire(endpoint, deployed_id, plan.retire, STEP)
    record = {
        "endpoint": endpoint.resource_name,
        "model": version.resource_name,
        "version_id": version.version_id,
        "deployed_model_id": deployed_id,
        "plan": steps,
        "undeployed": list(plan.retire),
        "traffic_split": endpoint.traffic_split,
        "predict_url": rollout.predict_url(cfg, endpoint.resource_name),
    }
    print(f"{STEP}: v{version.version_id} serves 100 %: {record['traffic_split']}", flush=True)
    return StepResult(
        record=record,
        outputs={
            "endpoint": endpoint.resource_name,
            "version_id": version.version_id,
            "deployed_model_id": deployed_id,
        },
        summary=f"### Rolled back to v{version.version_id}\n\n" + "\n".join(f"- {step}" for step in steps),
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(STEP, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
