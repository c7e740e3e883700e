"""scripts/monitor.py: the rate and quantile math from tables, then the real command against a live server
under load (two deployed models, one bad request in four)."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from scripts.monitor import Row, Series, growth, main, parse_metrics, quantile, render, rows
from tests.support.rest_client import HttpClient, deploy, deploy_over_rest, predict_body, upload_model
from tests.support.vertex_local_server import REPO_ROOT, VertexLocal
from vertex_local.serving.prometheus import ServingMetrics

INF = math.inf


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (0.5, [(0.001, 0), (0.01, 100), (INF, 100)], 0.0055),  # halfway through the (1 ms, 10 ms] bucket
        (0.5, [(0.001, 10), (INF, 10)], 0.0005),  # the first bucket starts at 0
        (0.99, [(0.005, 98), (0.01, 100), (INF, 100)], 0.0075),
        (0.99, [(0.1, 0), (INF, 5)], 0.1),  # past the largest finite bound: that bound
        (0.5, [(0.001, 0), (INF, 0)], None),  # no observation
        (0.5, [], None),
    ],
)
def test_quantiles_interpolate_inside_the_bucket_they_fall_in(q, buckets, expected) -> None:
    found = quantile(q, buckets)
    assert found == expected if expected is None else found == pytest.approx(expected)


@pytest.mark.parametrize(
    ("now", "before", "expected"),
    [
        (Series(10, 20, 1, ((0.01, 8), (INF, 10))), None, Series(10, 20, 1, ((0.01, 8), (INF, 10)))),
        (Series(10, 20, 1, ((0.01, 8), (INF, 10))), Series(4, 5, 1, ((0.01, 3), (INF, 4))),
         Series(6, 15, 0, ((0.01, 5), (INF, 6)))),
        (Series(3, 3, 0, ((INF, 3),)), Series(50, 60, 2, ((INF, 50),)), Series(3, 3, 0, ((INF, 3),))),  # reset
    ],
)  # fmt: skip
def test_growth_between_scrapes_counts_a_reset_counter_from_zero(now, before, expected) -> None:
    assert growth(now, before) == expected


def scrape_after(metrics: ServingMetrics, calls: list[tuple[str, str, int, float, bool]]) -> dict:
    for call in calls:
        metrics.observe(*call)
    return parse_metrics(metrics.scrape().decode())


def test_rows_are_per_second_figures_of_what_happened_between_two_scrapes() -> None:
    metrics = ServingMetrics()
    before = scrape_after(metrics, [("7", "1", 5, 0.002, False)] * 10)
    now = scrape_after(metrics, [("7", "1", 2, 0.003, False)] * 30 + [("7", "1", 0, 0.004, True)] * 10
                       + [("7", "2", 1, 0.02, False)] * 4 + [("8", "3", 1, 0.001, False)])  # fmt: skip
    table = rows(before, now, 2.0, "7")
    assert [(row.endpoint_id, row.deployed_model_id) for row in table] == [("7", "1"), ("7", "2")]
    first, second = table
    assert (first.requests_per_s, first.predictions_per_s, first.error_rate) == (20.0, 30.0, 0.25)
    assert 2.5 < first.p50_ms <= 5.0 and 2.5 < first.p99_ms <= 5.0  # 3 and 4 ms fall in (2.5 ms, 5 ms]
    assert (second.requests_per_s, second.error_rate) == (2.0, 0.0) and 10 < second.p50_ms <= 25
    assert [row.deployed_model_id for row in rows(before, now, 2.0, None)] == ["1", "2", "3"]


def test_render_prints_a_dash_where_an_interval_had_no_requests() -> None:
    table = [Row("7", "1", 512.0, 1024.0, 0.0125, 1.234, 9.87), Row("7", "2", 0.0, 0.0, None, None, None)]
    lines = render(table, 1.0, "12:00:00").splitlines()
    assert lines[0] == "12:00:00  over the last 1.0 s"
    assert lines[1].split() == ["endpoint", "deployed", "model", "req/s", "pred/s", "errors", "p50", "ms", "p99", "ms"]
    assert lines[2].split() == ["7", "1", "512.0", "1024.0", "1.2", "%", "1.2", "9.9"]
    assert lines[3].split() == ["7", "2", "0.0", "0.0", "-", "-", "-"]
    assert render([], 1.0, "12:00:00").endswith("(no predictions yet)")


def test_an_unreachable_server_is_one_stderr_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", "http://127.0.0.1:9", "--once", "--interval", "0.1"]) == 1
    assert capsys.readouterr().err.startswith("monitor: cannot scrape http://127.0.0.1:9/metrics: ")
    assert main(["--interval", "0"]) == 2


class Load(threading.Thread):
    """A client predicting as fast as it can: 2 digits per request, every fourth request a bad body."""

    def __init__(self, server: VertexLocal, path: str, digits: np.ndarray) -> None:
        super().__init__(daemon=True)
        self.client, self.path, self.body = HttpClient(server.url), path, predict_body(digits[:2])
        self.stop, self.sent = threading.Event(), 0

    def run(self) -> None:
        while not self.stop.is_set():
            body = b'{"instances": [[1, 2]]}' if self.sent % 4 == 3 else self.body
            self.client.request("POST", self.path, body, {"content-type": "application/json"})
            self.sent += 1


def tables_as_printed(process: subprocess.Popen, load: Load) -> list[tuple[list[str], int]]:
    """Each table the monitor prints (it prints one right after each scrape), with the load's count then."""
    tables, lines = [], []
    for line in process.stdout or ():
        if line.strip():
            lines.append(line.rstrip("\n"))
        elif lines:
            tables.append((lines, load.sent))
            lines = []
    return tables


def test_the_monitor_shows_what_the_load_generated_per_deployed_model(
    vertex_local: VertexLocal, trained_model_dir: Path, mnist_test_digits
) -> None:
    uri = vertex_local.stage_model(trained_model_dir, "monitor")
    first = deploy_over_rest(vertex_local, uri, "monitor")
    client = HttpClient(vertex_local.url)
    model = upload_model(client, vertex_local, "monitor-2", uri)
    second = deploy(client, vertex_local, first.endpoint_id, model, {first.deployed_model_id: 50, "0": 50})
    load = Load(vertex_local, first.predict_path(vertex_local), mnist_test_digits[0])
    load.start()
    command = [sys.executable, "-m", "scripts.monitor", "--url", vertex_local.url, "--interval", "1", "--count", "2",
               "--endpoint", f"{vertex_local.parent}/endpoints/{first.endpoint_id}"]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        tables = tables_as_printed(process, load)
        stderr = process.communicate(timeout=60)[1]
    finally:
        process.kill()
        load.stop.set()
        load.join()
    assert process.returncode == 0, stderr
    print("\n\n".join("\n".join(table) for table, _ in tables))
    assert len(tables) == 2
    (_, sent_before), (last_table, sent_after) = tables
    assert " over the last 1." in last_table[0]
    seconds = float(last_table[0].split(" over the last ")[1].split()[0])
    # The load's own count between the two tables, i.e. over the interval the last one covers: on a busy
    # machine the rate changes from second to second, so only the same interval compares.
    rate = (sent_after - sent_before) / seconds
    shown = {line.split()[1]: line.split() for line in last_table[2:]}
    assert set(shown) == {first.deployed_model_id, second}
    requests_per_s = [float(row[2]) for row in shown.values()]
    assert sum(requests_per_s) == pytest.approx(rate, rel=0.3)
    for row in shown.values():
        requests, predictions, errors, p50, p99 = float(row[2]), float(row[3]), float(row[4]), row[6], row[7]
        assert requests == pytest.approx(sum(requests_per_s) / 2, rel=0.35)  # a 50/50 split
        assert predictions == pytest.approx(requests * 0.75 * 2, rel=0.25)  # 3 good requests in 4, 2 digits each
        assert 10 <= errors <= 40  # per cent: one request in four is bad
        assert 0 < float(p50) <= float(p99) < 1000
