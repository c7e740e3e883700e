"""tests/contract/cloud_run.py, `make test-cloud`: its error names a real section, the plan, the refusal without a
yes, the cheap subset's selection, and the cleanup of what a killed run left (against vertex-local)."""

from __future__ import annotations

import inspect
import io
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.contract import cloud_run

ROOT = Path(__file__).resolve().parent.parent
CLOUD = {"PIPELINE_VERTEX_PROJECT": "my-proj", "PIPELINE_VERTEX_REGION": "us-central1",
         "PIPELINE_VERTEX_STAGING_BUCKET": "gs://my-bucket"}  # fmt: skip


class Recorder:
    """Stands in for the pytest subprocess (it would reach Google Cloud): what it was asked to run."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    def __call__(self, command: list[str], env: dict[str, str]) -> int:
        self.calls.append((command, env))
        return 0


def test_without_the_variables_the_error_names_a_section_that_exists(capsys: pytest.CaptureFixture[str]) -> None:
    assert cloud_run.main([], environ={}, run=Recorder()) == 2
    error = capsys.readouterr().err
    page, section = re.search(r"see (docs/[\w.]+), '([^']+)'", error).groups()
    assert f"\n## {section}\n" in (ROOT / page).read_text()
    assert "PIPELINE_VERTEX_PROJECT" in error


@pytest.mark.parametrize(
    ("flags", "cost", "time"), [([], "spends:", "60-90 minutes"), (["--cheap"], "cheap:", "5 min")]
)
def test_the_plan_is_shown_and_nothing_runs_without_a_yes(flags, cost, time, monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))  # piped, not a person at a terminal
    recorder = Recorder()
    assert cloud_run.main(flags, environ=CLOUD, run=recorder) == 1
    out, err = capsys.readouterr()
    assert out.startswith("contract suite against project my-proj, region us-central1, as your own Application")
    assert f"  cost     {cost}" in out and time in out and "gs://my-bucket/contract-<id>/" in out
    assert "not confirmed, nothing created" in err and recorder.calls == []


def test_yes_runs_the_cheap_subset_against_the_cloud_as_the_impersonated_identity(capsys) -> None:
    recorder = Recorder()
    argv = ["--cheap", "--impersonate", "mnist-train@my-proj.iam.gserviceaccount.com"]
    assert cloud_run.main(argv, environ={**CLOUD, "YES": "1"}, run=recorder) == 0
    ((command, env),) = recorder.calls
    assert command[-2:] == ["-k", "not (deploy or job)"] and "tests/contract" in command
    assert env["CONTRACT_TARGET"] == "gcp" and env["CONTRACT_IMPERSONATE"].startswith("mnist-train@")
    assert "as mnist-train@my-proj.iam.gserviceaccount.com (impersonated)" in capsys.readouterr().out


def test_the_cheap_subset_leaves_out_every_test_that_deploys_or_runs_a_job() -> None:
    """By their code, not their names: a test that deploys or starts a job and is not named so would spend."""
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/contract", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-k", "not (deploy or job)"], cwd=ROOT, capture_output=True, text=True, timeout=300,
    ).stdout  # fmt: skip
    kept = {line.split("::")[1].split("[")[0] for line in listed.splitlines() if "::" in line}
    assert len(kept) > 20  # Cloud Storage and the registry
    spends = re.compile(r"\.deploy\(|deploy_model\(|CustomJob\(|\.run\(|\.submit\(")
    for path in (ROOT / "tests/contract").glob("test_*.py"):
        module = {name: fn for name, fn in vars(__import__(f"tests.contract.{path.stem}", fromlist=["_"])).items()
                  if name.startswith("test_") and callable(fn)}  # fmt: skip
        for name, function in module.items():
            if spends.search(inspect.getsource(function)):
                assert name not in kept, f"{path.name}::{name} spends but is in the cheap subset"


def test_cleanup_deletes_only_what_carries_the_suites_prefix(vertex, trained_model_dir: Path) -> None:
    from google.cloud import aiplatform

    from tests.support.rest_client import SERVING_IMAGE

    prefix = f"cleanup{uuid.uuid4().hex[:6]}-"
    uri = vertex.stage_model(trained_model_dir, f"{prefix}run")
    model = aiplatform.Model.upload(display_name=f"{prefix}model", artifact_uri=uri,
                                    serving_container_image_uri=SERVING_IMAGE)  # fmt: skip
    model.deploy(endpoint=aiplatform.Endpoint.create(display_name=f"{prefix}endpoint"), machine_type="n1-standard-2")
    client = vertex.storage_client()
    client.bucket(vertex.bucket).blob(f"kept-{prefix}/x.json").upload_from_string(json.dumps({}))

    done = cloud_run.cleanup(aiplatform, client, vertex.bucket, prefix)

    assert done[:2] == [f"deleted endpoint {prefix}endpoint", f"deleted model {prefix}model"]
    assert not aiplatform.Endpoint.list(filter=f'display_name="{prefix}endpoint"')
    assert not aiplatform.Model.list(filter=f'display_name="{prefix}model"')
    assert not list(client.list_blobs(vertex.bucket, prefix=prefix))
    assert [b.name for b in client.list_blobs(vertex.bucket, prefix=f"kept-{prefix}")] == [f"kept-{prefix}/x.json"]
