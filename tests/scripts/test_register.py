"""scripts/register.py: versions of one model, aliases, labels, and idempotence per git SHA."""

from __future__ import annotations

import json
from pathlib import Path

from google.cloud import aiplatform

from scripts import register
from scripts.core import registry
from scripts.core.run_metrics import fmt
from tests.support.pipeline_steps import Names, TrainedRun, register_run, step


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
    assert version.container_spec.image_uri.endswith("tf2-cpu.2-15:latest")


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
