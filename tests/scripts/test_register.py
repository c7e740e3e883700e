"""scripts/register.py: versions of one model, aliases, labels, and idempotence per git SHA."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from google.cloud import aiplatform

from scripts import register
from scripts.core import registry
from scripts.core.run_metrics import fmt
from tests.support.pipeline_steps import Names, TrainedRun, register_run, step
from tests.support.vertex_local_server import VertexLocal


def test_the_first_registration_creates_the_model_with_aliases_labels_and_accuracy(
    names: Names, run_a: TrainedRun, tmp_path: Path
) -> None:
    register_run(run_a, str(tmp_path))
    written = json.loads((tmp_path / "register.json").read_text())
    assert written["version_id"] == "1" and written["reused"] is False
    version = aiplatform.Model(f"{written['model']}@1")
    assert version.display_name == names.model
    assert {"sha-aaaaaaaaaaaa", "candidate"} <= set(version.version_aliases)
    assert version.labels["git_sha"] == run_a.git_sha
    assert version.uri == run_a.model_dir
    assert f"test accuracy {fmt(run_a.accuracy)}" in version.description
    spec = version.container_spec  # our serving image, tagged with the commit, with its routes and port
    assert spec.image_uri.endswith(f"/mlops/mnist-serving:{run_a.git_sha}"), spec.image_uri
    assert (spec.predict_route, spec.health_route) == ("/predict", "/health")
    assert [port.container_port for port in spec.ports] == [8080]


def test_registering_the_same_sha_again_returns_that_version_and_changes_nothing(
    names: Names, run_a: TrainedRun, run_b: TrainedRun, tmp_path: Path
) -> None:
    register_run(run_a, str(tmp_path / "a"))
    register_run(run_b, str(tmp_path / "b"))
    model = registry.find_model(names.model)
    assert model is not None
    before = {v: set(aiplatform.Model(f"{model.resource_name}@{v}").version_aliases) for v in ("1", "2")}

    again = register_run(run_a, str(tmp_path / "again"))

    written = json.loads((tmp_path / "again" / "register.json").read_text())
    assert written["version_id"] == "1" and written["reused"] is True
    assert "nothing changed" in again.stdout
    assert registry.get_version(model.resource_name, "3") is None
    after = {v: set(aiplatform.Model(f"{model.resource_name}@{v}").version_aliases) for v in ("1", "2")}
    assert after == before  # `candidate` stays on version 2


def test_a_new_sha_becomes_the_next_version_and_takes_the_candidate_alias(
    names: Names, run_a: TrainedRun, run_b: TrainedRun, tmp_path: Path
) -> None:
    register_run(run_a, str(tmp_path / "a"))
    register_run(run_b, str(tmp_path / "b"))
    written = json.loads((tmp_path / "b" / "register.json").read_text())
    assert written["version_id"] == "2"
    first = aiplatform.Model(f"{written['model']}@1")
    second = aiplatform.Model(f"{written['model']}@candidate")
    assert second.version_id == "2" and "sha-bbbbbbbbbbbb" in second.version_aliases
    assert "candidate" not in first.version_aliases and "sha-aaaaaaaaaaaa" in first.version_aliases


def test_a_model_dir_without_metrics_registers_nothing(names: Names, tmp_path: Path) -> None:
    result = step(
        register.main, "--model-dir", "gs://test-bucket/runs/nothing/model", "--git-sha", "c" * 40,
        "--out-dir", str(tmp_path),
    )  # fmt: skip
    assert result.status == 1
    assert result.stderr == "register: gs://test-bucket/runs/nothing/model/metrics.json not found\n"
    assert registry.find_model(names.model) is None


def test_a_local_model_dir_is_a_usage_error(names: Names, run_a: TrainedRun, tmp_path: Path) -> None:
    result = step(register.main, "--model-dir", str(tmp_path), "--git-sha", "c" * 40, "--out-dir", str(tmp_path))
    assert result.status == 2
    assert "must be a gs:// URI" in result.stderr


# The Vertex AI permission each request needs, as the access log records the request (method, path ending):
# https://cloud.google.com/vertex-ai/docs/general/iam-permissions. models.update (PATCH, :mergeVersionAliases)
# is what could move `production`; the training role must not need it.
PERMISSION_OF_REQUEST = (
    (re.compile(r'"POST /v1/\S+/models:upload '), "aiplatform.models.upload"),
    (re.compile(r'"GET /v1/\S+/models(/[^/ ]+)? '), "aiplatform.models.get/list"),
    (re.compile(r'"GET /v1/\S+/models/[^/ ]+/operations/\S+ '), "aiplatform.models.get"),
    (re.compile(r'"(PATCH /v1/\S+/models/\S+|POST /v1/\S+:mergeVersionAliases) '), "aiplatform.models.update"),
)


def requests_during(server: VertexLocal, action: Callable[[], object]) -> list[str]:
    """The Vertex API request lines the server logged while `action` ran (a marker request closes the span)."""
    start = server.log_path.stat().st_size
    action()
    marker = f"/v1/register-test-marker-{uuid.uuid4().hex}"
    httpx.get(f"{server.url}{marker}")  # 404; its log line follows every earlier request's
    logged = server.log_through(marker)[start:]
    return [line for line in logged.splitlines() if '"' in line and "/v1/projects/" in line]


def test_registering_a_new_version_needs_no_permission_to_move_an_existing_alias(
    names: Names, run_a: TrainedRun, run_b: TrainedRun, pipeline_env: VertexLocal, tmp_path: Path
) -> None:
    """`candidate` is given at upload (Vertex takes it off its holder), so training never calls models.update."""
    register_run(run_a, str(tmp_path / "a"))
    lines = requests_during(pipeline_env, lambda: register_run(run_b, str(tmp_path / "b")))
    needed = {next((perm for pattern, perm in PERMISSION_OF_REQUEST if pattern.search(line)), line) for line in lines}
    assert "aiplatform.models.upload" in needed
    assert needed <= {"aiplatform.models.upload", "aiplatform.models.get/list", "aiplatform.models.get"}, needed
    model = registry.find_model(names.model)
    assert model is not None
    assert registry.get_version(model.resource_name, registry.CANDIDATE).version_id == "2"
    assert registry.CANDIDATE not in registry.get_version(model.resource_name, "1").version_aliases
