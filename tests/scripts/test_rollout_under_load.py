"""The pipeline rolls versions out and back while 4 clients predict without pause: no request may fail, and
each answer must name a deployed model that was serving traffic at the moment it was answered.

The real steps run (scripts.deploy and scripts.rollback main()): a canary of v2 beside v1, its promotion,
a canary of v3 and its promotion, then a rollback to v2. A sampler records the endpoint's traffic split as
the server shows it, over and over; each answer is checked against the splits seen while it was in flight.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import statistics
import threading
import time
from pathlib import Path

from scripts import deploy, rollback
from tests.support.pipeline_steps import Names, TrainedRun, endpoint_state, register_run, step
from tests.support.rest_client import HttpClient, predict_body
from tests.support.vertex_local_server import VertexLocal

CLIENTS = 4
SHA_C = "c" * 40  # a third version: run A's model registered again for another commit

Serving = frozenset[tuple[str, str]]  # (deployed model id, model version id) of the models taking traffic


@dataclasses.dataclass(frozen=True)
class Seen:
    """Something observed between two instants (time.perf_counter)."""

    start: float
    end: float
    what: object


class Sampler(threading.Thread):
    """Reads the endpoint as the server shows it, again and again: the serving set over time."""

    def __init__(self, server: VertexLocal, endpoint_path: str) -> None:
        super().__init__(daemon=True)
        self.client, self.path = HttpClient(server.url), endpoint_path
        self.stop, self.samples = threading.Event(), []
        self._instants: tuple[list[float], list[float]] | None = None

    def run(self) -> None:
        while not self.stop.is_set():
            start = time.perf_counter()
            endpoint = self.client.request("GET", self.path).json()
            split = endpoint.get("trafficSplit", {})
            serving = frozenset(
                (d["id"], d["modelVersionId"]) for d in endpoint["deployedModels"] if split.get(d["id"])
            )
            self.samples.append(Seen(start, time.perf_counter(), serving))

    def serving_during(self, start: float, end: float) -> Serving:
        """Every (deployed model, version) with traffic in the samples from the last one finished before
        `start` to the first one begun after `end`: what the server may have routed to in between."""
        starts, ends = self.instants()
        first = max(bisect.bisect_right(ends, start) - 1, 0)  # the last sample with end <= start, else the first
        last = min(bisect.bisect_left(starts, end), len(self.samples) - 1)  # the first with start >= end, else the last
        return frozenset().union(*(s.what for s in self.samples[first : last + 1]))

    def instants(self) -> tuple[list[float], list[float]]:
        """The samples' starts and ends, both ascending (one request at a time), for a binary search per answer
        rather than a scan of every sample: thousands of answers against thousands of samples."""
        if self._instants is None or len(self._instants[0]) != len(self.samples):
            starts, ends = [s.start for s in self.samples], [s.end for s in self.samples]
            assert starts == sorted(starts) and ends == sorted(ends), "the sampler's requests overlapped"
            self._instants = (starts, ends)
        return self._instants


class Client(threading.Thread):
    """Predicts without pause on one keep-alive connection; records every answer and failure."""

    def __init__(self, server: VertexLocal, predict_path: str, body: bytes) -> None:
        super().__init__(daemon=True)
        self.client, self.path, self.body = HttpClient(server.url), predict_path, body
        self.stop, self.answers, self.failures = threading.Event(), [], []

    def run(self) -> None:
        while not self.stop.is_set():
            start = time.perf_counter()
            try:
                answer = self.client.request("POST", self.path, self.body, {"content-type": "application/json"})
            except OSError as exc:
                self.failures.append(repr(exc))
                continue
            if answer.status != 200:
                self.failures.append(f"{answer.status}: {answer.body[:200]!r}")
                continue
            named = (answer.json()["deployedModelId"], answer.json()["modelVersionId"])
            self.answers.append(Seen(start, time.perf_counter(), named))


def deploy_sha(sha: str, out: Path) -> dict:
    result = step(deploy.main, "--git-sha", sha, "--out-dir", str(out))
    assert result.status == 0, result.stdout + result.stderr
    return json.loads((out / "deploy.json").read_text())


def test_a_rollout_and_a_rollback_under_load_fail_no_request_and_answer_only_from_serving_models(
    pipeline_env: VertexLocal, names: Names, run_a: TrainedRun, run_b: TrainedRun, tmp_path: Path, mnist_test_digits
) -> None:
    register_run(run_a, str(tmp_path / "a"))
    server, endpoint = pipeline_env, deploy_sha(run_a.git_sha, tmp_path / "a")["endpoint"]
    sampler = Sampler(server, f"/v1/{endpoint}")
    clients = [Client(server, f"/v1/{endpoint}:predict", predict_body(mnist_test_digits[0][i : i + 1]))
               for i in range(CLIENTS)]  # fmt: skip
    for thread in (sampler, *clients):
        thread.start()
    started = time.perf_counter()
    try:
        register_run(run_b, str(tmp_path / "b"))
        deploy_sha(run_b.git_sha, tmp_path / "b")  # v2: canary at 10 %, smoke test, promoted, v1 undeployed
        register_run(dataclasses.replace(run_a, git_sha=SHA_C), str(tmp_path / "c"))
        deploy_sha(SHA_C, tmp_path / "c")  # v3 the same way
        result = step(rollback.main, "--version", "2", "--out-dir", str(tmp_path / "rollback"))
        assert result.status == 0, result.stdout + result.stderr
    finally:
        for thread in (*clients, sampler):
            thread.stop.set()
            thread.join(timeout=30)
    elapsed = time.perf_counter() - started

    answers = [answer for client in clients for answer in client.answers]
    failures = [failure for client in clients for failure in client.failures]
    latencies = [answer.end - answer.start for answer in answers]
    print(f"{len(answers)} answers, {len(failures)} failures in {elapsed:.1f} s of rollout; "
          f"p50 {statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.0f} ms; "
          f"{len(sampler.samples)} samples of the split")  # fmt: skip
    assert failures == []
    assert len(answers) >= 200 and all(len(client.answers) > 20 for client in clients)
    versions_seen = {answer.what[1] for answer in answers}
    assert versions_seen == {"1", "2", "3"}  # the load spanned every version
    stray = [a for a in answers if a.what not in sampler.serving_during(a.start, a.end)]
    assert stray == [], stray[:5]
    after = endpoint_state(names)
    assert set(after.versions.values()) == {"2"} and after.production == "2" and list(after.traffic.values()) == [100]
