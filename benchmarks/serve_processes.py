"""The processes benchmarks.bench_serve measures: the trainer, the servers, and wrk as the load generator.

Nothing here runs on its own; `python -m benchmarks.bench_serve` drives it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import requests

REPO = Path(__file__).resolve().parent.parent
LUA_SCRIPT = Path(__file__).resolve().parent / "predict_load.lua"
START_TIMEOUT_S = 120.0
WRK_TIMEOUT = "30s"  # wrk's default of 2 s would count the naive baseline's slow answers as errors


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def quiet_env() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


def train_model(model_dir: Path) -> None:
    """The real trainer, as the issue asks: cnn, 1 epoch on mnist-sample (seconds)."""
    command = [sys.executable, "-m", "trainer.task", "--dataset", "mnist-sample", "--model", "cnn"]
    command += ["--epochs", "1", "--model-dir", str(model_dir)]
    env = {key: value for key, value in quiet_env().items() if not key.startswith("AIP_")}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"bench-serve: the trainer failed:\n{result.stderr[-2000:]}")


def test_digits(count: int) -> np.ndarray:
    """`count` real test digits as the walkthrough sends them: `test_x / 255.0`, float64.

    The bodies carry the same numbers: rounded pixels over 255, written as Python writes floats.
    """
    from trainer.data import load_dataset

    _, (images, _labels) = load_dataset("mnist-sample", seed=42)
    return np.rint(images[:count].astype(np.float64) * 255.0) / 255.0


def write_bodies(path: Path, pixels: np.ndarray, per_body: int, count: int) -> list[np.ndarray]:
    """`count` predict bodies of `per_body` digits each, one per line; returns each body's digit indexes."""
    indexes = [np.arange(start, start + per_body) % len(pixels) for start in range(0, count * per_body, per_body)]
    path.write_text("".join(json.dumps({"instances": pixels[chosen].tolist()}) + "\n" for chosen in indexes))
    return indexes


@dataclasses.dataclass
class ServerProcess:
    """A server started as its own process, its output kept in a log file."""

    name: str
    command: list[str]
    health_url: str
    log_path: Path
    ready_line: str = ""  # a line each worker logs once it is ready (servers with several worker processes)
    ready_count: int = 0
    process: subprocess.Popen | None = None
    env: dict[str, str] | None = None  # more environment (the serving image's AIP_* variables)

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=REPO, env={**quiet_env(), **(self.env or {})}, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"bench-serve: {self.name} exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if requests.get(self.health_url, timeout=1).ok and self.workers_ready():
                    return
            except (requests.ConnectionError, requests.Timeout):  # the serving image listens while it loads
                pass
            time.sleep(0.1)
        raise SystemExit(f"bench-serve: {self.name} did not answer {self.health_url}:\n{self.tail()}")

    def stop(self) -> None:
        """SIGINT, as Ctrl-C would; then SIGKILL for whatever of its process tree is left after 20 s."""
        if self.process is None or self.process.poll() is not None:
            return
        tree = process_tree(self.process.pid)
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for pid in tree[1:]:  # workers a server started: none may outlive the benchmark
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def workers_ready(self) -> bool:
        return self.log_path.read_text(errors="replace").count(self.ready_line) >= self.ready_count

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far: its process and their children, all threads."""
        assert self.process is not None
        return sum(process_cpu_seconds(pid) for pid in process_tree(self.process.pid))

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def process_tree(root: int) -> list[int]:
    """`root` and every live process descended from it (Linux /proc)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue  # it ended while we looked
    tree, grew = {root}, True
    while grew:
        found = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree, grew = tree | found, bool(found)
    return sorted(tree)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process, all its threads; 0 once it has ended."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def check_answers(url: str, bodies_file: Path, expected: list[np.ndarray], name: str) -> None:
    """Every body gets the in-process model's probabilities back: the servers under load compute real answers."""
    with requests.Session() as session:
        for index, body in enumerate(bodies_file.read_text().splitlines()):
            answer = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=60)
            if answer.status_code != 200:
                raise SystemExit(f"bench-serve: {name} answered {answer.status_code}: {answer.text[:300]}")
            got = np.asarray(answer.json()["predictions"], np.float32)
            if got.shape != expected[index].shape or not np.allclose(got, expected[index], atol=1e-4):
                raise SystemExit(f"bench-serve: {name}'s answer for body {index} differs from the model's")


def run_wrk(url: str, bodies_file: Path, connections: int, seconds: float) -> dict:
    """One wrk run (one thread, `connections` keep-alive connections); its figures in ms, req/s and errors."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", f"--timeout={WRK_TIMEOUT}"]
    command += ["-s", str(LUA_SCRIPT), url, "--", str(bodies_file)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    lines = [line for line in result.stdout.splitlines() if line.startswith("BENCH_RESULT ")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"bench-serve: wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    raw = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
    errors = sum(raw[key] for key in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    return {
        "clients": connections,
        "requests": raw["requests"],
        "seconds": raw["duration_us"] / 1e6,
        "req_per_s": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "errors": errors,
        "wrk_errors": {key: value for key, value in raw.items() if key.endswith(("_errors", "timeouts"))},
    }
