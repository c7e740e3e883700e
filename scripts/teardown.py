"""Stop paying for the pipeline: python -m scripts.teardown [--all] [--dry-run] [--yes]

Undeploys every model from the project's endpoint and deletes the endpoint (the machine that runs around the
clock). With --all it also deletes the registered model (every version) and the objects under the staging
bucket's runs/ and batch/ folders. It prints what it will delete, then asks; --yes answers for you (CI),
--dry-run stops after the list. Images in Artifact Registry are left to the repository's cleanup policy
(bootstrap_gcp.sh); the bucket, service accounts and Workload Identity pool stay.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from scripts.core import cloud, registry
from scripts.core.step import (
    Environ,
    StepError,
    StepResult,
    add_common_flags,
    load_step_config,
    print_settings,
    run_main,
)

STEP = "teardown"
RUN_FOLDERS = ("runs/", "batch/")  # what training jobs and batch_predict write under the staging bucket


@dataclasses.dataclass
class Plan:
    endpoint: Any = None  # aiplatform.Endpoint
    deployed: list[str] = dataclasses.field(default_factory=list)  # "<deployed id> (<model> v<version>)"
    model: Any = None  # aiplatform.Model, with --all
    versions: list[str] = dataclasses.field(default_factory=list)
    objects: dict[str, list[Any]] = dataclasses.field(default_factory=dict)  # gs:// folder -> blobs, with --all

    def lines(self) -> list[str]:
        found = [f"undeploy {deployed}" for deployed in self.deployed]
        if self.endpoint is not None:
            found.append(f"delete endpoint {self.endpoint.display_name} ({self.endpoint.resource_name})")
        if self.model is not None:
            found.append(f"delete model {self.model.display_name} ({self.model.resource_name}), versions "
                         f"{', '.join(self.versions)}")  # fmt: skip
        found += [f"delete {len(blobs)} objects under {folder}" for folder, blobs in self.objects.items() if blobs]
        return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    add_common_flags(parser)
    parser.add_argument("--all", action="store_true", help="also the model (all versions) and runs/, batch/ objects")
    parser.add_argument("--dry-run", action="store_true", help="print what would be deleted, delete nothing")
    parser.add_argument("--yes", action="store_true", help="do not ask (for scripts and CI)")
    return parser


def plan(endpoint_name: str, model_name: str, bucket_uri: str, everything: bool, client: Any) -> Plan:
    found = Plan(endpoint=registry.find_endpoint(endpoint_name))
    if found.endpoint is not None:
        found.deployed = [f"{d.id} ({d.display_name} v{d.model_version_id})" for d in found.endpoint.list_models()]
    if not everything:
        return found
    found.model = registry.find_model(model_name)
    if found.model is not None:
        found.versions = [v.version_id for v in found.model.versioning_registry.list_versions()]
    bucket = bucket_uri.removeprefix("gs://").rstrip("/")
    for folder in RUN_FOLDERS:
        found.objects[f"gs://{bucket}/{folder}"] = list(client.list_blobs(bucket, prefix=folder))
    return found


def confirmed(stdin: TextIO, stdout: TextIO) -> bool:
    """The user's answer; no terminal to ask is a no (pass --yes)."""
    if not stdin.isatty():
        return False
    stdout.write("Delete all of this? Type 'yes': ")
    stdout.flush()
    return stdin.readline().strip().lower() == "yes"


def execute(found: Plan) -> list[str]:
    """Delete what the plan lists, in an order the service accepts; returns what was done."""
    done = []
    if found.endpoint is not None:
        found.endpoint.undeploy_all()
        done += [f"undeployed {deployed}" for deployed in found.deployed]
        found.endpoint.delete()
        done.append(f"deleted endpoint {found.endpoint.resource_name}")
    if found.model is not None:
        found.model.delete()  # Vertex refuses while a version is deployed: the endpoint went first
        done.append(f"deleted model {found.model.resource_name}")
    for folder, blobs in found.objects.items():
        for blob in blobs:
            blob.delete()
        if blobs:
            done.append(f"deleted {len(blobs)} objects under {folder}")
    return done


def run(args: argparse.Namespace, environ: Environ) -> StepResult:
    cfg = load_step_config(args.profile, environ)
    v = cfg.vertex
    print_settings(STEP, cfg, {"endpoint": v.endpoint_display_name, "model": v.model_display_name, "all": args.all})
    cloud.connect(cfg, environ)
    found = plan(v.endpoint_display_name, v.model_display_name, v.staging_bucket, args.all,
                 cloud.storage_client(cfg, environ))  # fmt: skip
    lines = found.lines()
    if not lines:
        print(f"{STEP}: nothing to delete", flush=True)
        return StepResult(record={"planned": [], "done": []})
    print(f"{STEP}: will " + f"\n{STEP}: will ".join(lines), flush=True)
    if args.dry_run:
        print(f"{STEP}: dry run, nothing deleted", flush=True)
        return StepResult(record={"planned": lines, "done": []})
    if not args.yes and not confirmed(sys.stdin, sys.stdout):
        raise StepError("nothing deleted: not confirmed (answer 'yes' at the prompt, or pass --yes)")
    done = execute(found)
    print(f"{STEP}: " + f"\n{STEP}: ".join(done), flush=True)
    return StepResult(
        record={"planned": lines, "done": done}, summary="### Teardown\n\n" + "\n".join(f"- {d}" for d in done)
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(STEP, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
