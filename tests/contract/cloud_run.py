"""The contract suite against a real project, asking first: python -m tests.contract.cloud_run [--cheap] [--yes]

    make test-cloud         every contract test: deploys and custom jobs included (about an hour, a few dollars)
    make test-cloud-cheap   no deploys, no jobs: Cloud Storage and the Model Registry (minutes, under a cent)
    make test-cloud ARGS=--cleanup   delete what a killed run left under the suite's prefix, run nothing

It prints what the run creates, its cost class and its expected time, then asks (YES=1 or --yes answers for
you). --impersonate SA runs every call as that service account (the training identity proves its roles suffice;
you need roles/iam.serviceAccountTokenCreator on it). See docs/operations.md, "Checking vertex-local against
Google Cloud".
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from tests.support.contract_target import CLOUD_VARIABLES, IMPERSONATE_VARIABLE, SECTION, cloud_credentials

PREFIX = "contract-"  # every resource the suite creates is named so (tests/contract/conftest.py, Target.name)
SPENDING = "deploy or job"  # pytest -k: the tests that deploy models or run custom jobs, by their names
CHEAP = {
    "runs": f"every contract test except those named *deploy* or *job* (-k 'not ({SPENDING})')",
    "creates": "objects under gs://{bucket}/contract-<id>/, models and empty endpoints named contract-<id>-*",
    "cost": "cheap: Cloud Storage operations and a few KB stored for minutes; registry entries and empty endpoints "
    "are free (well under $0.01)",
    "time": "about 5 minutes",
}
FULL = {
    "runs": "every contract test",
    "creates": CHEAP["creates"] + "; about 5 deployments on n1-standard-2 and 3 custom jobs on n1-standard-4",
    "cost": "spends: each deployment bills an n1-standard-2 node from deploy to undeploy (10-30 minutes each), each "
    "custom job an n1-standard-4 for its minutes; a few dollars at most (docs/operations.md, 'What it costs')",
    "time": "about 60-90 minutes, mostly waiting for deploys (each 5-20 minutes on Vertex) and jobs to start",
}


def missing_variables(environ: Mapping[str, str]) -> list[str]:
    return [name for name in CLOUD_VARIABLES if not environ.get(name)]


def plan_text(environ: Mapping[str, str], cheap: bool, impersonate: str | None) -> str:
    """What the run will do, in a few lines the user reads before answering."""
    chosen = CHEAP if cheap else FULL
    bucket = environ["PIPELINE_VERTEX_STAGING_BUCKET"].removeprefix("gs://").strip("/")
    who = f"as {impersonate} (impersonated)" if impersonate else "as your own Application Default Credentials"
    lines = [f"contract suite against project {environ['PIPELINE_VERTEX_PROJECT']}, "
             f"region {environ['PIPELINE_VERTEX_REGION']}, {who}:"]  # fmt: skip
    lines += [f"  {key:<8} {value.format(bucket=bucket)}" for key, value in chosen.items()]
    lines.append("  cleanup  deleted at the end; after a killed run: make test-cloud ARGS=--cleanup")
    return "\n".join(lines)


def confirmed(stdin: TextIO, stdout: TextIO) -> bool:
    """The user's answer; without a terminal to ask, no (pass --yes or YES=1)."""
    if not stdin.isatty():
        return False
    stdout.write("Run it? Type 'yes': ")
    stdout.flush()
    return stdin.readline().strip().lower() == "yes"


def pytest_command(cheap: bool) -> list[str]:
    command = [sys.executable, "-m", "pytest", "tests/contract", "-p", "no:cacheprovider"]
    return command + (["-k", f"not ({SPENDING})"] if cheap else [])


def cleanup(aiplatform: Any, storage_client: Any, bucket: str, prefix: str = PREFIX) -> list[str]:
    """Delete every endpoint (undeployed first), model and object whose name starts with `prefix`; what it did."""
    done = []
    for endpoint in aiplatform.Endpoint.list():
        if endpoint.display_name.startswith(prefix):
            endpoint.undeploy_all()
            endpoint.delete()
            done.append(f"deleted endpoint {endpoint.display_name}")
    for model in aiplatform.Model.list():
        if model.display_name.startswith(prefix):
            model.delete()
            done.append(f"deleted model {model.display_name}")
    blobs = list(storage_client.list_blobs(bucket, prefix=prefix))
    for blob in blobs:
        blob.delete()
    if blobs:
        done.append(f"deleted {len(blobs)} objects under gs://{bucket}/{prefix}*")
    return done


def connect(environ: Mapping[str, str], impersonate: str | None) -> tuple[Any, Any]:
    """aiplatform initialised on the project, and a storage client, as the suite itself connects."""
    from google.cloud import aiplatform, storage

    credentials = cloud_credentials(impersonate)
    aiplatform.init(project=environ["PIPELINE_VERTEX_PROJECT"], location=environ["PIPELINE_VERTEX_REGION"],
                    credentials=credentials)  # fmt: skip
    return aiplatform, storage.Client(project=environ["PIPELINE_VERTEX_PROJECT"], credentials=credentials)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.contract.cloud_run", description=__doc__.splitlines()[0])
    parser.add_argument("--cheap", action="store_true", help="no deploys, no jobs (make test-cloud-cheap)")
    parser.add_argument("--yes", action="store_true", help="do not ask (also YES=1)")
    parser.add_argument("--cleanup", action="store_true", help="delete what a killed run left, run no test")
    parser.add_argument("--impersonate", metavar="SA", help="run as this service account (the training identity)")
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ,
         run: Callable[[list[str], dict[str, str]], int] | None = None) -> int:  # fmt: skip
    args = build_parser().parse_args(argv)
    if missing := missing_variables(environ):
        print(f"test-cloud: set {', '.join(missing)} first (see {SECTION})", file=sys.stderr)
        return 2
    print(plan_text(environ, args.cheap, args.impersonate) if not args.cleanup else
          f"test-cloud: will delete every endpoint, model and object named {PREFIX}* in "
          f"{environ['PIPELINE_VERTEX_PROJECT']}", flush=True)  # fmt: skip
    if not (args.yes or environ.get("YES") == "1") and not confirmed(sys.stdin, sys.stdout):
        print("test-cloud: not confirmed, nothing created (answer 'yes', or pass --yes / YES=1)", file=sys.stderr)
        return 1
    if args.cleanup:
        bucket = environ["PIPELINE_VERTEX_STAGING_BUCKET"].removeprefix("gs://").strip("/")
        done = cleanup(*connect(environ, args.impersonate), bucket)
        print("\n".join(f"test-cloud: {line}" for line in done) or "test-cloud: nothing left to delete")
        return 0
    env = {
        **environ,
        "CONTRACT_TARGET": "gcp",
        **({IMPERSONATE_VARIABLE: args.impersonate} if args.impersonate else {}),
    }
    return (run or (lambda command, env: subprocess.call(command, env=env)))(pytest_command(args.cheap), env)


if __name__ == "__main__":
    raise SystemExit(main())
