"""scripts/rollback.py on vertex-local: an earlier version back at 100 %, alone, with the production alias."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts import rollback
from scripts.core import registry
from tests.support.pipeline_steps import (
    EndpointState,
    Names,
    StepRun,
    TrainedRun,
    endpoint_state,
    register_run,
    set_names,
    step,
)
from tests.support.vertex_local_server import VertexLocal, free_port


def roll_back(version: str, out_dir: Path) -> tuple[StepRun, dict | None]:
    result = step(rollback.main, "--version", version, "--out-dir", str(out_dir))
    written = out_dir / "rollback.json"
    return result, json.loads(written.read_text()) if written.exists() else None


@pytest.fixture(scope="module")
def history(
    pipeline_env: VertexLocal, run_a: TrainedRun, run_b: TrainedRun, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Names, Path]]:
    """Two registered versions; version 2 serves (put there by a rollback onto an empty endpoint)."""
    patch = pytest.MonkeyPatch()
    names = set_names(patch, "rollback")
    out = tmp_path_factory.mktemp("rollback")
    register_run(run_a, str(out / "a"))
    register_run(run_b, str(out / "b"))
    result, _ = roll_back("2", out / "to-2")
    assert result.status == 0, result.stderr
    yield names, out
    patch.undo()


def test_rollback_deploys_an_earlier_version_alone_at_100_percent(history: tuple[Names, Path]) -> None:
    names, out = history
    before = endpoint_state(names)
    assert set(before.versions.values()) == {"2"} and before.production == "2"

    result, written = roll_back("1", out / "to-1")

    assert result.status == 0, result.stderr
    after = endpoint_state(names)
    assert after == EndpointState({written["deployed_model_id"]: 100}, {written["deployed_model_id"]: "1"}, "1")
    assert written["undeployed"] == list(before.versions)
    assert f"rollback: v1 serves 100 %: {{'{written['deployed_model_id']}': 100}}" in result.stdout


def test_rolling_back_to_the_serving_version_redeploys_nothing(history: tuple[Names, Path]) -> None:
    names, out = history
    roll_back("1", out / "first")
    before = endpoint_state(names)
    result, written = roll_back("1", out / "again")
    assert result.status == 0, result.stderr
    assert endpoint_state(names) == before
    assert written["plan"] == ["v1 already takes 100 % of the traffic alone: nothing to do"]


def test_rolling_back_to_an_unknown_version_changes_nothing(history: tuple[Names, Path]) -> None:
    names, out = history
    before = endpoint_state(names)
    result, _ = roll_back("9", out / "unknown")
    assert result.status == 1
    assert result.stderr == f"rollback: model {names.model!r} has no version or alias '9'\n"
    assert endpoint_state(names) == before


@pytest.mark.parametrize(
    "version",
    ["", " ", "1@2", "../1", "1/2", "0", "01", "-1", "1.5", "v1 ", "Production", "a", "9production", "prod-", "sha_1",
     "a" * 129, "12345678901234567890", "production\n"],
)  # fmt: skip
def test_a_version_that_is_neither_an_id_nor_an_alias_is_a_usage_error(
    version: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # Aimed at a closed port: the refusal must come before any call to the registry or the endpoint.
    monkeypatch.setenv("PIPELINE_VERTEX_API_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    assert rollback.main(["--version", version, "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "argument --version: " in err and "is neither a version id (1, 2, ...) nor a version alias" in err
    assert "Traceback" not in err and not (tmp_path / "rollback.json").exists()


@pytest.mark.parametrize("version", ["1", "42", "9223372036854775807", "production", "sha-3f2a9c1", "ab", "a" * 128])
def test_version_ids_and_aliases_as_vertex_spells_them_are_accepted(version: str) -> None:
    assert registry.version_reference(version) == version
