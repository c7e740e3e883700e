"""Put an earlier model version back at 100 % of the endpoint: python -m scripts.rollback --version V

Deploys the version if it is not deployed, straight at 100 % (it served before, and a rollback is
urgent: no canary, no smoke test), moves the `production` alias to it and undeploys every other deployment.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from google.cloud import aiplatform

from scripts import common, registry, rollout
from scripts.deploy import deploy_new, deployments, predict_url, promote, retire

STEP = "rollback"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    common.add_common_flags(parser)
    parser.add_argument("--version", required=True, help="model version id (or alias) to serve again")
    return parser


def run(args: argparse.Namespace) -> int:
    cfg = common.load_step_config(args.profile, os.environ)
    v = cfg.vertex
    common.print_settings(
        STEP,
        cfg,
        {
            "model": v.model_display_name,
            "version": args.version,
            "endpoint": v.endpoint_display_name,
            "machine": v.deploy_machine_type,
        },
    )
    common.connect(cfg, os.environ)
    version = registry.require_version(v.model_display_name, args.version)
    endpoint = registry.find_endpoint(v.endpoint_display_name) or aiplatform.Endpoint.create(
        display_name=v.endpoint_display_name
    )
    current = deployments(endpoint)
    plan = rollout.plan_rollout(current, version.resource_name, version.version_id, trial_percent=100)
    steps = rollout.describe_plan(plan, f"v{version.version_id}", current, smoke_test=False)
    print(f"{STEP}: plan for {registry.describe(version)}", *steps, sep="\n  ", flush=True)
    deployed_id = plan.reuse_id or deploy_new(cfg, endpoint, version, plan.trial_split)
    # Also on a no-op: whatever serves 100 % alone should hold the production alias.
    promote(endpoint, version, deployed_id)
    retire(endpoint, deployed_id, plan.retire, STEP)
    result = {
        "endpoint": endpoint.resource_name,
        "model": version.resource_name,
        "version_id": version.version_id,
        "deployed_model_id": deployed_id,
        "plan": steps,
        "undeployed": list(plan.retire),
        "traffic_split": endpoint.traffic_split,
        "predict_url": predict_url(cfg, endpoint.resource_name),
    }
    common.write_out(args.out_dir, STEP, result)
    common.publish(
        os.environ.get("GITHUB_OUTPUT"),
        os.environ.get("GITHUB_STEP_SUMMARY"),
        {
            "endpoint": endpoint.resource_name,
            "version_id": version.version_id,
            "deployed_model_id": deployed_id,
        },
        f"### Rolled back to v{version.version_id}\n\n" + "\n".join(f"- {step}" for step in steps),
    )
    print(f"{STEP}: v{version.version_id} serves 100 %: {result['traffic_split']}", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return common.run_main(STEP, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
