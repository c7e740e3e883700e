"""scripts/deploy.py on vertex-local: first deploy, canary, no-ops, dry runs, rollback on failure."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.cloud import aiplatform

from scripts import deploy, gate, register
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


def deploy_sha(sha: str, out_dir: Path, *extra: str) -> tuple[StepRun, dict[str, Any] | None]:
    result = step(deploy.main, "--git-sha", sha, "--out-dir", str(out_dir), *extra)
    written = out_dir / "deploy.json"
    return result, json.loads(written.read_text()) if written.exists() else None


@pytest.fixture(scope="module")
def twice(pipeline_env: VertexLocal, run_a: TrainedRun, run_b: TrainedRun, tmp_path_factory) -> Iterator[dict]:
    """The pipeline run twice, as CI does for two commits, with snapshots of the endpoint along the way."""
    patch = pytest.MonkeyPatch()
    names = set_names(patch, "twice")
    out = tmp_path_factory.mktemp("twice")
    seen: dict[str, Any] = {"names": names, "url": pipeline_env.url}
    register_run(run_a, str(out / "register-a"))
    seen["first"] = deploy_sha(run_a.git_sha, out / "deploy-a")
    seen["after_first"] = endpoint_state(names)
    seen["first_again"] = deploy_sha(run_a.git_sha, out / "deploy-a-again")
    seen["gate_b"] = (
        step(gate.main, "--model-dir", run_b.model_dir, "--out-dir", str(out / "gate-b")),
        out / "gate-b",
    )
    register_run(run_b, str(out / "register-b"))
    seen["dry_run"] = deploy_sha(run_b.git_sha, out / "dry-run", "--dry-run")
    seen["after_dry_run"] = endpoint_state(names)
    seen["second"] = deploy_sha(run_b.git_sha, out / "deploy-b")
    seen["after_second"] = endpoint_state(names)
    seen["register_b_again"] = step(register.main, "--model-dir", run_b.model_dir, "--git-sha", run_b.git_sha,
                                    "--out-dir", str(out / "register-b-again"))  # fmt: skip
    seen["second_again"] = deploy_sha(run_b.git_sha, out / "deploy-b-again")
    seen["after_second_again"] = endpoint_state(names)
    yield seen
    patch.undo()


def test_the_first_deploy_gives_the_version_all_traffic_and_the_production_alias(twice: dict) -> None:
    result, written = twice["first"]
    assert result.status == 0, result.stderr
    state = twice["after_first"]
    assert state.traffic == {written["deployed_model_id"]: 100}
    assert state.versions == {written["deployed_model_id"]: "1"} and state.production == "1"
    assert written["smoke"]["digits"] == 100 and written["smoke"]["calls"] == 10  # one model: no re-sends
    assert "real : 7\npredicted : 7\n" in result.stdout
    assert written["predict_url"] == f"{twice['url']}/v1/{written['endpoint']}:predict"


def test_redeploying_the_serving_version_is_a_no_op(twice: dict) -> None:
    result, written = twice["first_again"]
    assert result.status == 0 and written["noop"] is True
    assert "already takes 100 % of the traffic alone" in result.stdout
    again, state = twice["second_again"], twice["after_second_again"]
    assert again[0].status == 0 and again[1]["noop"] is True
    assert state == twice["after_second"]
    assert twice["register_b_again"].status == 0
    assert "nothing changed" in twice["register_b_again"].stdout


def test_the_second_runs_gate_compares_with_production(twice: dict) -> None:
    result, out_dir = twice["gate_b"]
    assert result.status == 0, result.stderr
    verdict = json.loads((out_dir / "gate.json").read_text())
    assert verdict["production"]["version_id"] == "1"
    assert "and >= production" in verdict["reason"]
    assert json.loads((out_dir / "production_metrics.json").read_text())["git_sha"] == "a" * 40


def test_a_dry_run_prints_the_canary_plan_and_changes_nothing(twice: dict) -> None:
    result, written = twice["dry_run"]
    assert result.status == 0 and written["dry_run"] is True
    assert twice["after_dry_run"] == twice["after_first"]
    first_id = next(iter(twice["after_first"].versions))
    assert written["plan"] == [
        f"1. deploy v2 to 10 % of the traffic, beside deployed model {first_id} (v1) at 90 %",
        "2. smoke-test v2 (only its answers count)",
        "3. give v2 100 % of the traffic and the production alias",
        f"4. undeploy deployed model {first_id} (v1)",
    ]


def test_the_second_run_goes_through_the_canary_and_undeploys_the_first_model(twice: dict) -> None:
    result, written = twice["second"]
    assert result.status == 0, result.stderr
    assert "takes 10 % of the traffic; smoke-testing it" in result.stdout
    # At 10 % the canary answers about one request in ten; only its answers count.
    assert written["smoke"]["digits"] == 100 and written["smoke"]["calls"] > 10  # 10 batches, re-sent
    state = twice["after_second"]
    assert state.traffic == {written["deployed_model_id"]: 100}
    assert state.versions == {written["deployed_model_id"]: "2"} and state.production == "2"
    assert written["undeployed"] == list(twice["after_first"].versions)


def test_a_dry_run_against_a_missing_endpoint_creates_nothing(names: Names, run_a: TrainedRun, tmp_path: Path) -> None:
    register_run(run_a, str(tmp_path))
    result, written = deploy_sha(run_a.git_sha, tmp_path, "--dry-run")
    assert result.status == 0 and written["endpoint"] is None
    assert written["plan"][0] == "1. deploy v1 to 100 % of the traffic"
    assert registry.find_endpoint(names.endpoint) is None


def test_a_failed_first_deploy_leaves_an_empty_endpoint(
    names: Names, run_a: TrainedRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_run(run_a, str(tmp_path))
    monkeypatch.setenv("PIPELINE_SMOKE_P95_LATENCY_MS", "0.001")  # out of reach: no predict call takes 1 µs
    result, _ = deploy_sha(run_a.git_sha, tmp_path)
    assert result.status == 1
    assert result.stderr.startswith("deploy: smoke test failed: p95 latency ") and "> budget 0 ms" in result.stderr
    assert "rolled back: traffic split {} restored, deployed model" in result.stderr
    assert endpoint_state(names) == EndpointState({}, {}, None)


class Client(threading.Thread):
    """A user predicting all along: every request must succeed."""

    def __init__(self, endpoint_name: str, digit: list) -> None:
        super().__init__(daemon=True)
        self.endpoint_name, self.digit = endpoint_name, digit
        self.stop, self.answered_by, self.errors = threading.Event(), [], []

    def run(self) -> None:
        endpoint = aiplatform.Endpoint(self.endpoint_name)
        while not self.stop.is_set():
            try:
                self.answered_by.append(endpoint.predict(instances=[self.digit]).deployed_model_id)
            except Exception as exc:  # any failure at all is what this test looks for
                self.errors.append(repr(exc))


def test_a_failed_smoke_test_rolls_back_while_production_serves_every_request(
    names: Names, run_a: TrainedRun, bad_run: TrainedRun, tmp_path: Path, mnist_test_digits: tuple
) -> None:
    register_run(run_a, str(tmp_path / "a"))
    _, first = deploy_sha(run_a.git_sha, tmp_path / "a")
    before = endpoint_state(names)
    register_run(bad_run, str(tmp_path / "bad"))
    client = Client(first["endpoint"], mnist_test_digits[0][0].tolist())
    client.start()
    try:
        result, _ = deploy_sha(bad_run.git_sha, tmp_path / "bad")
    finally:
        client.stop.set()
        client.join(timeout=30)
    assert result.status == 1
    assert result.stderr.startswith("deploy: smoke test failed: accuracy 0.")
    assert f"rolled back: traffic split {before.traffic} restored, deployed model" in result.stderr
    assert endpoint_state(names) == before  # production alone, at 100 %, still holding the alias
    assert client.errors == []
    assert len(client.answered_by) >= 10


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--version", "", "is neither a version id (1, 2, ...) nor a version alias"),
        ("--version", "1@2", "is neither a version id (1, 2, ...) nor a version alias"),
        ("--version", "Production", "is neither a version id (1, 2, ...) nor a version alias"),
        ("--alias", "", "is not a version alias"),
        ("--alias", "7", "is not a version alias"),
        ("--git-sha", "", "is not a git commit"),
        ("--git-sha", "  ", "is not a git commit"),
        ("--git-sha", "abc/def", "is not a git commit"),
    ],
)
def test_a_version_flag_vertex_could_not_name_is_a_usage_error_before_any_call(
    flag: str, value: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # Aimed at a closed port: the refusal must come before any call to the registry or the endpoint.
    monkeypatch.setenv("PIPELINE_VERTEX_API_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    assert deploy.main([flag, value, "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: " in err and says in err
    assert "Traceback" not in err and not (tmp_path / "deploy.json").exists()


@pytest.mark.parametrize("sha", ["A" * 40, "57340e7f6d9f-demo-20260101t000000z"])
def test_a_commit_names_the_version_by_its_sha_alias(sha: str) -> None:
    args = deploy.build_parser().parse_args(["--git-sha", sha])
    assert deploy.version_ref(args) == registry.sha_alias(sha.lower())
