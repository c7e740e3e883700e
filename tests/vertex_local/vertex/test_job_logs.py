"""Job logs are streamed in bounded chunks: whole or by ?tail=, within the byte budget, never held in memory.

The last test reads a 256 MiB log from a real server while a client keeps predicting, and measures the server's
memory (RSS, sampled from /proc) and the predictions' latency; it prints the figures and asserts generous bounds.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from pipeline_config import load_config
from tests.support.rest_client import HttpClient, deploy_over_rest, predict_body
from tests.support.vertex_local_server import VertexLocal, start_vertex_local
from vertex_local.vertex.jobs import logs

# A log read whole grows the server by four times its size (128 MiB: +512 MiB), one buffered without bound by up to
# its size: at 128 MiB either is at least twice the limit below (256 MiB cost the job writing it and the read twice).
BIG_LOG_MIB = 128
MAX_RSS_GROWTH_MIB = 64
MAX_PREDICT_GAP_S = 2.0  # generous on a busy 2-core machine; a predict usually takes a few milliseconds


def read(path: Path, tail: int | None, budget: int) -> tuple[str, bool]:
    part = logs.plan(path, tail, budget)
    return "".join(logs.chunks(path, part.start, part.end)), part.cut


@pytest.mark.parametrize("ending", ["\n", ""])
def test_tail_returns_the_last_lines_with_or_without_a_final_newline(tmp_path, ending) -> None:
    log = tmp_path / "w.log"
    log.write_text("\n".join(f"line {i}" for i in range(10_000)) + ending)
    assert read(log, 3, 1 << 20) == (f"line 9997\nline 9998\nline 9999{ending}", False)
    assert read(log, 0, 1 << 20) == ("", False)
    assert read(log, 50_000, 1 << 20)[0].startswith("line 0\n")  # more lines than there are: all of them


def test_the_byte_budget_cuts_a_long_log_at_a_line_start_and_says_so(tmp_path) -> None:
    log = tmp_path / "w.log"
    log.write_text("".join(f"line {i:06d}\n" for i in range(100_000)))  # 12 bytes a line
    text, cut = read(log, None, 1000)
    assert cut and text.startswith("line 099917\n") and text.endswith("line 099999\n") and len(text) <= 1000
    tail_text, tail_cut = read(log, 5000, 1000)  # the budget also bounds ?tail=
    assert tail_cut and len(tail_text) <= 1000 and tail_text.endswith("line 099999\n")
    assert read(log, None, log.stat().st_size) == (log.read_text(), False)


def test_multibyte_text_across_chunk_boundaries_and_invalid_bytes_come_out_whole(tmp_path) -> None:
    log = tmp_path / "w.log"
    text = "é" * (logs.CHUNK_BYTES + 7)  # two bytes each: chunks end in the middle of a character
    log.write_bytes(text.encode() + b"\n\xff\xfe bad bytes\n")
    assert read(log, None, 1 << 30)[0] == text + "\n\ufffd\ufffd bad bytes\n"


def get_logs(vertex, job_id: str, tail: int | None = None) -> str:
    answer = requests.get(vertex.api(f"customJobs/{job_id}:logs"), params={"tail": tail} if tail else {}, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.text


def test_the_logs_route_streams_within_its_limit_and_tail_still_works(vertex, unique_name) -> None:
    from google.cloud import aiplatform

    limit = load_config().serving.max_log_read_bytes
    script = "import sys\nfor i in range(1_000_000): sys.stdout.write(f'line {i:07d}\\n')\nprint('the end')"
    container = {"image_uri": "local/x", "command": ["python", "-c", script]}
    pools = [{"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1, "container_spec": container}]
    job = aiplatform.CustomJob(display_name=unique_name, worker_pool_specs=pools)
    job.run()
    job_id = job.resource_name.rsplit("/", 1)[1]
    whole = get_logs(vertex, job_id)
    first, rest = whole.split("\n", 1)
    assert first.startswith("[vertex-local: the first ") and "bytes of this log are left out" in first
    assert len(rest.encode()) <= limit and rest.startswith("line ") and rest.endswith("line 0999999\nthe end\n")
    assert get_logs(vertex, job_id, tail=2) == "line 0999999\nthe end\n"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def run_job(server: VertexLocal, script: str) -> str:
    """A custom job running `python -c script` over REST, waited for; returns its id."""
    client = HttpClient(server.url)
    container = {"imageUri": "local/x", "command": ["python", "-c", script]}
    pool = {"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1", "containerSpec": container}
    body = {"displayName": "big-log", "jobSpec": {"workerPoolSpecs": [pool]}}
    name = client.json("POST", f"/v1/{server.parent}/customJobs", body).json()["name"]
    deadline = time.monotonic() + 120
    while client.request("GET", f"/v1/{name}").json()["state"] != "JOB_STATE_SUCCEEDED":
        assert time.monotonic() < deadline, "the log-writing job did not finish"
        time.sleep(0.1)
    return name.rsplit("/", 1)[1]


class Background:
    """Predictions in a loop (latency of each, failures) and the server's RSS every 10 ms, until stopped."""

    def __init__(self, server: VertexLocal, path: str, body: bytes) -> None:
        self.server, self.path, self.body = server, path, body
        self.latencies: list[float] = []
        self.failures: list[int] = []
        self.rss: list[float] = []
        self.sampling = threading.Event()
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._predict), threading.Thread(target=self._sample)]
        for thread in self.threads:
            thread.start()

    def _predict(self) -> None:
        client = HttpClient(self.server.url)
        while not self.stopped.is_set():
            started = time.perf_counter()
            answer = client.request("POST", self.path, self.body, {"content-type": "application/json"})
            self.latencies.append(time.perf_counter() - started)
            if answer.status != 200:
                self.failures.append(answer.status)

    def _sample(self) -> None:
        while not self.stopped.is_set():
            if self.sampling.is_set():
                self.rss.append(rss_mib(self.server.process.pid))
            time.sleep(0.01)

    def stop(self) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join()


def stream_logs(server: VertexLocal, job_id: str) -> int:
    """Read the job's logs as a client would, in 64 KiB pieces; returns the bytes received."""
    received = 0
    with requests.get(server.api(f"customJobs/{job_id}:logs"), stream=True, timeout=120) as answer:
        assert answer.status_code == 200
        for chunk in answer.iter_content(1 << 16):
            received += len(chunk)
    return received


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RSS is read from /proc")
def test_reading_a_huge_log_keeps_memory_flat_and_predictions_flowing(
    tmp_path, monkeypatch, trained_model_dir, mnist_test_digits
) -> None:
    monkeypatch.setenv("PIPELINE_SERVING_MAX_LOG_READ_BYTES", str(2 * BIG_LOG_MIB << 20))  # all of it, streamed
    server = start_vertex_local(tmp_path / "state")
    try:
        deployment = deploy_over_rest(server, server.stage_model(trained_model_dir, "logs"), "logs")
        script = (
            f"import sys\nblock = ('x' * 1023 + '\\n') * 1024\nfor _ in range({BIG_LOG_MIB}): sys.stdout.write(block)"
        )
        job_id = run_job(server, script)
        load = Background(server, deployment.predict_path(server), predict_body(mnist_test_digits[0][:1]))
        deadline = time.monotonic() + 60
        while len(load.latencies) < 50:  # the model has answered before the baseline is taken
            assert time.monotonic() < deadline and not load.failures, f"predictions fail: {load.failures[:3]}"
            time.sleep(0.01)
        before_rss, first = rss_mib(server.process.pid), len(load.latencies)
        load.sampling.set()
        started = time.perf_counter()
        received = stream_logs(server, job_id)
        read_s, last = time.perf_counter() - started, len(load.latencies)
        load.stop()  # joins the threads: every latency below was written before this returned
        before_latency, during = statistics.median(load.latencies[:first]), load.latencies[first:last]
    finally:
        server.stop()
    growth = max(load.rss) - before_rss
    print(
        f"\nlog {BIG_LOG_MIB} MiB read in {read_s:.2f} s; server RSS {before_rss:.0f} MiB before, peak "
        f"{max(load.rss):.0f} MiB (+{growth:.0f} MiB); {len(during)} predicts during the read, median "
        f"{statistics.median(during) * 1000:.1f} ms (before: {before_latency * 1000:.1f} ms), max "
        f"{max(during) * 1000:.0f} ms"
    )
    assert received == BIG_LOG_MIB << 20
    assert load.failures == []
    assert growth < MAX_RSS_GROWTH_MIB
    assert during and max(during) < MAX_PREDICT_GAP_S
