"""scripts/demo.py: the `make demo` story twice on the session's vertex-local, a gate failure, and its server."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

from scripts import demo
from scripts.core import registry
from scripts.core.step import StepError
from tests.support import tiers
from tests.support.pipeline_steps import EndpointState, Names, StepRun, endpoint_state, set_names, step
from tests.support.vertex_local_server import VertexLocal, free_port
from vertex_local import daemon

ALIAS = re.compile(r"[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]")  # Vertex's rule for version aliases
LABEL = re.compile(r"[a-z0-9_-]{0,63}")


@pytest.mark.parametrize(
    "head", ["71c4a33314a8c0ffee71c4a33314a8c0ffee1234", "0123456789abcdef" * 2 + "01234567", None]
)
def test_each_demo_run_gets_an_identity_that_is_a_valid_label_and_alias(head: str | None) -> None:
    identity = demo.demo_identity(head, datetime.datetime(2026, 11, 24, 2, 0, 5, tzinfo=datetime.UTC))
    assert identity == f"{(head or 'nogit')[:12]}-demo-20261124020005"
    assert LABEL.fullmatch(identity) and ALIAS.fullmatch(registry.sha_alias(identity))


@pytest.fixture(scope="module")
@tiers.slow
def two_demos(pipeline_env: VertexLocal, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """`make demo` twice in a row against a server that is already up (so the demo starts none)."""
    patch = pytest.MonkeyPatch()
    names = set_names(patch, "demo")
    first_out, second_out = tmp_path_factory.mktemp("demo-1"), tmp_path_factory.mktemp("demo-2")
    first = step(demo.main, "--out-dir", str(first_out))
    after_first = endpoint_state(names)
    second = step(demo.main, "--out-dir", str(second_out))
    yield {"names": names, "first": (first, first_out, after_first), "second": (second, second_out)}
    patch.undo()


def test_the_demo_ends_like_the_walkthrough_with_a_curl_that_works(two_demos: dict) -> None:
    result, out_dir, state = two_demos["first"]
    assert result.status == 0, result.stderr
    assert "\nreal : 7\npredicted : 7\n" in result.stdout
    deployed = json.loads((out_dir / "deploy.json").read_text())
    curl = f"curl -s -X POST -H 'Content-Type: application/json' --data @{out_dir}/digit.json {deployed['predict_url']}"
    assert curl in result.stdout
    body = json.loads((out_dir / "digit.json").read_text())
    answer = requests.post(deployed["predict_url"], json=body, timeout=30).json()  # what the curl sends
    assert int(np.argmax(answer["predictions"][0])) == 7
    assert state == EndpointState({deployed["deployed_model_id"]: 100}, {deployed["deployed_model_id"]: "1"}, "1")


def test_each_step_gets_a_one_line_summary(two_demos: dict) -> None:
    result = two_demos["first"][0]
    summaries = [line for line in result.stdout.splitlines() if line.startswith("== ") and "[" in line]
    assert [line.split(":")[0] for line in summaries] == [
        "== submit_training",
        "== gate",
        "== register",
        "== deploy",
    ]
    assert "demo: done in " in result.stdout


def test_the_demo_ends_with_a_table_of_where_its_time_went(two_demos: dict) -> None:
    result = two_demos["first"][0]
    done_s = float(re.search(r"^demo: done in ([\d.]+) s$", result.stdout, re.MULTILINE)[1])
    table = result.stdout.split("\nphase ", 1)[1].split("\nconsole: ")[0].splitlines()[1:]
    rows = {line[:26].strip(): (float(line[26:35]), line[35:].strip()) for line in table}
    # The server was up already, and the demo ran in-process: no server start or stop, no python start; the steps'
    # imports get a row of their own (here they were imported already: no server start to hide them behind).
    expected = ["imports", "training", "gate", "register", "deploy", "smoke test", "walkthrough call", "total"]
    assert list(rows) == expected
    assert rows["total"][0] == pytest.approx(sum(seconds for name, (seconds, _) in rows.items() if name != "total"),
                                             abs=0.35)  # fmt: skip
    assert rows["total"][0] <= done_s + 0.05 and all(seconds >= 0 for seconds, _ in rows.values())
    fit = re.fullmatch(r"the job; its fit ([\d.]+) s, accuracy 0\.\d{4}", rows["training"][1])
    assert fit and 0 < float(fit[1]) < rows["training"][0]
    assert rows["smoke test"][1] == "100 digits, 10 calls" and rows["smoke test"][0] > 0


def test_a_second_demo_trains_a_challenger_gates_it_against_production_and_canaries_it(two_demos: dict) -> None:
    result, out_dir = two_demos["second"]
    assert result.status == 0, result.stderr
    verdict = json.loads((out_dir / "gate.json").read_text())
    assert verdict["production"]["version_id"] == "1" and verdict["passed"] is True
    deployed = json.loads((out_dir / "deploy.json").read_text())
    assert deployed["version_id"] == "2"
    assert deployed["plan"][0].startswith("1. deploy v2 to 10 % of the traffic, beside deployed model")
    assert endpoint_state(two_demos["names"]).versions == {deployed["deployed_model_id"]: "2"}


@pytest.mark.live
@pytest.mark.slow
def test_a_gate_failure_stops_the_demo_with_exit_1_and_the_reason(
    names: Names, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_GATE_MIN_ACCURACY", "0.999")
    monkeypatch.setenv("PIPELINE_TRAINING_EPOCHS", "1")  # any accuracy fails 0.999: one epoch trains enough for it
    result = step(demo.main, "--out-dir", str(tmp_path))
    assert result.status == 1
    assert re.search(r"^gate: accuracy 0\.\d+ < minimum 0\.999$", result.stderr, re.MULTILINE)
    assert "demo: stopped: gate failed (exit 1)" in result.stderr
    assert registry.find_model(names.model) is None  # nothing registered
    assert "\nreal : " not in result.stdout


@pytest.mark.live
def test_the_demo_starts_vertex_local_when_nothing_answers_and_make_down_stops_it(tmp_path: Path) -> None:
    url, state_dir = f"http://127.0.0.1:{free_port()}", tmp_path / "state"
    assert not daemon.is_healthy(url)
    demo.start_server(url, state_dir)
    try:
        pid = daemon.running_pid(state_dir)
        assert pid is not None and answers(url)  # the pid file `make down` reads
        # --preload-tensorflow (started before the server answered): the first deploy will not wait for TensorFlow
        assert "importing TensorFlow in the background" in (state_dir / "server.log").read_text()
    finally:
        assert daemon.stop(state_dir) == 0
    assert not daemon.is_healthy(url) and daemon.running_pid(state_dir) is None
    assert b"vertex_local" not in process_command(pid)  # stop returned once the process had ended


@pytest.mark.live
def test_the_demo_starts_vertex_local_while_it_imports_the_steps(tmp_path: Path) -> None:
    url, state_dir = f"http://127.0.0.1:{free_port()}", tmp_path / "state"
    modules = demo.start_server_importing_steps(url, state_dir, None)
    try:
        assert [(name, module.STEP) for name, module in modules.items()] == [(name, name) for name in demo.STEPS]
        assert answers(url) and daemon.running_pid(state_dir) is not None
    finally:
        assert daemon.stop(state_dir) == 0


@pytest.mark.live
def test_a_server_that_cannot_start_while_the_steps_import_is_reported(tmp_path: Path) -> None:
    state_file = tmp_path / "not-a-directory"
    state_file.write_text("")
    with pytest.raises(StepError, match="vertex-local did not come up"):
        demo.start_server_importing_steps(f"http://127.0.0.1:{free_port()}", state_file, None)


@pytest.mark.live
def test_a_server_that_cannot_start_is_reported_with_its_log(tmp_path: Path) -> None:
    state_file = tmp_path / "not-a-directory"
    state_file.write_text("")
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StepError, match="vertex-local did not come up"):
        demo.start_server(url, state_file)


@pytest.mark.live
@pytest.mark.slow
def test_the_demo_needs_a_vertex_local_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_VERTEX_API_ENDPOINT", "")
    result: StepRun = step(demo.main, "--out-dir", str(tmp_path))
    assert result.status == 2
    assert "has no vertex.api_endpoint" in result.stderr


def test_head_sha_reads_the_checkout(tmp_path: Path) -> None:
    expected = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout
    assert demo.head_sha() == expected.strip()


def answers(url: str, timeout_s: float = 60.0) -> bool:
    """Whether /healthz answers within timeout_s: a server importing TensorFlow in the background may hold its
    interpreter for longer than one health check waits on a busy machine."""
    deadline = time.monotonic() + timeout_s
    while not daemon.is_healthy(url):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def process_command(pid: int) -> bytes:
    """A process's command line; empty once it has ended (a zombie's, or no process)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
