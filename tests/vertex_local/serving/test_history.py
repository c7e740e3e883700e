"""Issue 13, item 3: serving/history.py, the metrics history: rates, quantiles, resolutions, retention, restarts."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest
import requests

from tests.support.rest_client import HttpClient, deploy_over_rest, google_error_problems, predict_body
from tests.support.vertex_local_server import start_vertex_local
from vertex_local.serving.history import RESOLUTIONS, MetricsHistory
from vertex_local.serving.prometheus import LATENCY_BUCKETS, ServingMetrics

T0 = 1_800_000_000  # a whole hour, so every resolution's slots start here


def history_of(tmp_path: Path, metrics: ServingMetrics) -> MetricsHistory:
    return MetricsHistory(tmp_path / "metrics.sqlite3", LATENCY_BUCKETS, metrics.totals, started=T0)


def slot_rows(tmp_path: Path) -> dict[int, int]:
    with sqlite3.connect(tmp_path / "metrics.sqlite3") as db:
        return dict(db.execute("SELECT step_s, COUNT(*) FROM slots GROUP BY step_s").fetchall())


def test_rates_error_rate_and_latency_quantiles_come_from_how_much_the_counters_grew(tmp_path: Path) -> None:
    metrics = ServingMetrics()
    history = history_of(tmp_path, metrics)
    for _ in range(90):
        metrics.observe("e1", "d1", 4, 0.002, False)  # 2 ms: in the (1 ms, 2.5 ms] bucket
    for _ in range(10):
        metrics.observe("e1", "d1", 0, 0.2, True)  # 200 ms: in the (100 ms, 250 ms] bucket
    history.record(metrics.totals(), T0 + 5)
    answer = history.query("e1", "5m")
    (series,) = answer["series"]
    assert answer["stepSeconds"] == 5 and answer["times"][-1] == T0 and len(answer["times"]) == 60
    assert series["requestsPerSecond"][-1] == pytest.approx(100 / 5)
    assert series["predictionsPerSecond"][-1] == pytest.approx(360 / 5)
    assert series["errorRate"][-1] == pytest.approx(0.1)
    assert series["p50Ms"][-1] == pytest.approx(1.0 + 1.5 * 50 / 90, abs=1e-3)  # interpolated inside its bucket
    assert series["p99Ms"][-1] == pytest.approx(100 + 150 * 9 / 10, abs=1e-3)
    assert series["requestsPerSecond"][:-1] == [0.0] * 59 and series["p50Ms"][:-1] == [None] * 59
    metrics.observe("e1", "d1", 1, 0.002, False)
    history.record(metrics.totals(), T0 + 10)  # the next slot holds only what came since
    assert history.query("e1", "5m")["series"][0]["requestsPerSecond"][-2:] == [20.0, 0.2]


def test_a_coarse_slot_is_the_exact_sum_of_the_fine_ones(tmp_path: Path) -> None:
    metrics = ServingMetrics()
    history = history_of(tmp_path, metrics)
    for second in range(5, 65, 5):  # a minute of 5 s samples, 3 requests each
        for _ in range(3):
            metrics.observe("e1", "d1", 2, 0.002, second % 20 == 0)
        history.record(metrics.totals(), T0 + second)
    fine = history.query("e1", "5m")["series"][0]
    coarse = history.query("e1", "1d")["series"][0]
    fine_requests = sum(rate * 5 for rate in fine["requestsPerSecond"])
    assert fine_requests == pytest.approx(36)
    assert coarse["requestsPerSecond"][-1] * 60 == pytest.approx(36)
    assert coarse["predictionsPerSecond"][-1] * 60 == pytest.approx(72)
    assert coarse["errorRate"][-1] == pytest.approx(9 / 36)


def test_slots_older_than_their_resolution_keeps_are_deleted_so_the_file_stays_bounded(tmp_path: Path) -> None:
    metrics = ServingMetrics()
    history = history_of(tmp_path, metrics)
    for hour in range(0, 24 * 32, 7):  # a request every 7 hours for 32 days, sampled every 5 s around it
        history.record(metrics.totals(), T0 + hour * 3600)
        metrics.observe("e1", "d1", 1, 0.002, False)
        history.record(metrics.totals(), T0 + hour * 3600 + 5)
    rows = slot_rows(tmp_path)
    kept = {resolution.step_s: resolution.keep_s for resolution in RESOLUTIONS}
    assert rows[5] == 1 and rows[60] <= 1 + kept[60] // (7 * 3600) and rows[3600] <= 1 + kept[3600] // (7 * 3600)
    month = history.query("e1", "30d")["series"][0]["requestsPerSecond"]
    assert sum(1 for rate in month if rate) == rows[3600]


def test_samples_taken_while_requests_are_counted_from_many_threads_lose_and_double_nothing(tmp_path: Path) -> None:
    metrics = ServingMetrics()
    history = MetricsHistory(tmp_path / "metrics.sqlite3", LATENCY_BUCKETS, metrics.totals)
    counted = threading.Event()

    def predictions(model: str) -> None:
        for _ in range(3000):
            metrics.observe("e1", model, 2, 0.002, False)

    def samples() -> None:
        while not counted.is_set():
            history.sample()

    for _ in range(5):  # rounds: each ends with every count recorded once
        workers = [threading.Thread(target=predictions, args=(f"d{i % 2}",)) for i in range(4)]
        samplers = [threading.Thread(target=samples) for _ in range(2)]
        for thread in workers + samplers:
            thread.start()
        for thread in workers:
            thread.join()
        counted.set()
        for thread in samplers:
            thread.join()
        counted.clear()
        history.sample()
    recorded = {
        s["deployedModelId"]: sum(r * 5 for r in s["requestsPerSecond"]) for s in history.query("e1", "5m")["series"]
    }
    assert recorded == {"d0": pytest.approx(5 * 6000), "d1": pytest.approx(5 * 6000)}


def test_the_history_survives_a_restart_and_a_graceful_stop_loses_nothing(tmp_path: Path, trained_model_dir,
                                                                           mnist_test_digits) -> None:  # fmt: skip
    server = start_vertex_local(tmp_path / "state")
    try:
        deployment = deploy_over_rest(server, server.stage_model(trained_model_dir, "history"), "history")
        client = HttpClient(server.url)
        for index in range(25):
            body = predict_body(mnist_test_digits[0][index : index + 2])
            answer = client.request("POST", deployment.predict_path(server), body, {"content-type": "application/json"})
            assert answer.status == 200, answer.body
        client.close()
        assert server.stop() == 0  # the last sample happens on the way down
        server.start()
        answer = requests.get(
            f"{server.url}/console/api/endpoints/{deployment.endpoint_id}/metrics?window=1h", timeout=10
        )
        (series,) = answer.json()["series"]
        assert series["deployedModelId"] == deployment.deployed_model_id
        assert sum(rate * 5 for rate in series["predictionsPerSecond"]) == pytest.approx(50)
        assert sum(rate * 5 for rate in series["requestsPerSecond"]) == pytest.approx(25)
    finally:
        # A graceful stop: it cancels the restarted server's reload of the model, still waiting for TensorFlow's
        # import (seconds), that this test never uses (Deployments.close), rather than waiting for it.
        stopped = server.stop()
    assert stopped == 0, server.log_tail()
    restarted = server.log_path.read_text(errors="replace").rsplit("vertex-local ready", 1)[1]
    assert "deployed model(s) restored" not in restarted, restarted


def test_the_metrics_route_refuses_an_unknown_window_in_googles_shape(vertex_local) -> None:
    answer = HttpClient(vertex_local.url).request("GET", "/console/api/endpoints/1/metrics?window=2m")
    assert answer.status == 400 and google_error_problems(answer) == []
    assert "5m, 1h, 6h, 12h, 1d, 7d, 30d" in answer.json()["error"]["message"]


def test_model_latency_is_kept_beside_the_total_and_only_for_requests_that_reached_the_model(tmp_path: Path) -> None:
    metrics = ServingMetrics()
    history = history_of(tmp_path, metrics)
    for _ in range(10):
        metrics.observe("e1", "d1", 1, 0.02, False, 0.002)  # 20 ms in all, 2 ms of it inside the model
    metrics.observe("e1", "d1", 0, 0.5, True)  # a bad body: it never reached the model
    history.record(metrics.totals(), T0 + 5)
    history.record(metrics.totals(), T0 + 10)
    (series,) = history.query("e1", "5m")["series"]
    assert 10 < series["p50Ms"][-2] <= 25
    assert 1 < series["modelP50Ms"][-2] <= 2.5 and series["modelP99Ms"][-2] <= 2.5
    assert series["modelP50Ms"][-1] is None  # nothing came in the last slot
    assert "12h" in history.query("e1", "12h")["window"]


def test_a_history_file_from_before_model_latency_gains_its_column_and_keeps_its_rows(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "metrics.sqlite3") as db:
        db.execute("CREATE TABLE slots (step_s INTEGER NOT NULL, endpoint_id TEXT NOT NULL, t INTEGER NOT NULL, "
                   "deployed_model_id TEXT NOT NULL, requests INTEGER NOT NULL, predictions INTEGER NOT NULL, "
                   "errors INTEGER NOT NULL, buckets TEXT NOT NULL, PRIMARY KEY (step_s, endpoint_id, t, "
                   "deployed_model_id))")  # fmt: skip
        buckets = json.dumps([0, 0, 3] + [3] * (len(LATENCY_BUCKETS) - 2))
        db.execute("INSERT INTO slots VALUES (5, 'e1', ?, 'd1', 3, 3, 0, ?)", (T0, buckets))
    db.close()
    history = history_of(tmp_path, ServingMetrics())
    (series,) = history.query("e1", "5m")["series"]
    assert series["requestsPerSecond"][-1] > 0 and series["p50Ms"][-1] is not None
    assert series["modelP50Ms"][-1] is None
