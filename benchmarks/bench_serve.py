"""Serving figures side by side, from one run on this machine: python -m benchmarks.bench_serve [--seconds 10]

1. the floor: serving_default called in-process (1 image, 64 images) and a 1-image body parsed;
2. the naive baseline tutorials ship: Flask's dev server + model.predict (benchmarks/flask_baseline.py);
3. vertex-local's :predict: a real `python -m vertex_local serve`, a model trained by the real trainer,
   uploaded and deployed through the real SDK.
Servers run as their own processes; wrk (one thread) is the load generator, with real test digits as
bodies. Results are printed and saved to .bench/serve.json; the previous run's figures are shown beside.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks import serve_report
from benchmarks.serve_deploy import deploy_model
from benchmarks.serve_processes import (
    REPO,
    ServerProcess,
    check_answers,
    free_port,
    quiet_env,
    run_wrk,
    train_model,
    write_bodies,
)
from pipeline_config import load_config

RESULTS = REPO / ".bench" / "serve.json"
BODIES = 100  # distinct real digits the load cycles through
WARM_UP_S = 2.0  # a first short load, not measured: connections, TF's first batch sizes, caches


def measure_floor(model_dir: Path, bodies: Path) -> tuple[dict, np.ndarray]:
    """Floor figures at TF's default thread pools and at one thread per op (vertex-local's setting)."""
    figures: dict = {}
    for label, flags in (("default", []), ("1thread", ["--tf-threads", "1"])):
        command = [sys.executable, "-m", "benchmarks.serve_floor", str(model_dir), str(bodies), *flags]
        result = subprocess.run(command, cwd=REPO, env=quiet_env(), capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"bench-serve: the floor measurement failed:\n{result.stderr[-2000:]}")
        floor = json.loads(result.stdout)
        probabilities = np.asarray(floor.pop("probabilities"), np.float32)
        figures[f"model_1_ms_{label}"] = floor.pop("model_1_ms")
        figures[f"model_64_ms_{label}"] = floor.pop("model_64_ms")
        figures.update(floor)  # the JSON figures do not depend on TF's threads; the last run's stand
    return figures, probabilities


def measure_server(server: ServerProcess, predict_url: str, bodies: Path, expected: np.ndarray, seconds: float) -> dict:
    """Answers checked, a warm-up, then one client and 32 clients, each for `seconds`."""
    check_answers(predict_url, bodies, expected, server.name)
    run_wrk(predict_url, bodies, 32, WARM_UP_S)
    figures = {}
    for name, clients in (("one_client", 1), ("clients_32", 32)):
        cpu_before = server.cpu_seconds()
        figures[name] = run_wrk(predict_url, bodies, clients, seconds)
        # Less sensitive than rates to what else runs on the machine: the server's own CPU per answer.
        cpu_us = (server.cpu_seconds() - cpu_before) * 1e6 / max(figures[name]["requests"], 1)
        figures[name]["server_cpu_us_per_request"] = round(cpu_us, 1)
    check_answers(predict_url, bodies, expected, server.name)  # still right after the load
    return figures


def measure_flask(model_dir: Path, bodies: Path, expected: np.ndarray, scratch: Path, seconds: float) -> dict:
    port = free_port()
    command = [sys.executable, "-m", "benchmarks.flask_baseline", str(model_dir), "--port", str(port)]
    server = ServerProcess("flask baseline", command, f"http://127.0.0.1:{port}/healthz", scratch / "flask.log")
    server.start()
    try:
        return measure_server(server, f"http://127.0.0.1:{port}/predict", bodies, expected, seconds)
    finally:
        server.stop()


def measure_vertex_local(model_dir: Path, bodies: Path, expected: np.ndarray, scratch: Path, seconds: float) -> dict:
    """vertex-local as users start it (`python -m vertex_local serve`, default flags: one log line per request)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "vertex_local", "serve", "--port", str(port), "--state-dir", str(scratch / "vl")]
    server = ServerProcess("vertex-local", command, f"{url}/healthz", scratch / "vertex-local.log")
    server.start()
    try:
        predict_url = deploy_model(url, model_dir)
        return measure_server(server, predict_url, bodies, expected, seconds)
    finally:
        server.stop()


def git_sha() -> str | None:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return result.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured load (default 10)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as scratch_name:
        scratch = Path(scratch_name)
        print("bench-serve: training the model (cnn, 1 epoch, mnist-sample)", flush=True)
        train_model(scratch / "model")
        bodies = scratch / "bodies.jsonl"
        write_bodies(bodies, BODIES)
        print("bench-serve: floor (in-process)", flush=True)
        floor, expected = measure_floor(scratch / "model", bodies)
        print("bench-serve: naive Flask baseline", flush=True)
        flask = measure_flask(scratch / "model", bodies, expected, scratch, args.seconds)
        print("bench-serve: vertex-local", flush=True)
        vertex = measure_vertex_local(scratch / "model", bodies, expected, scratch, args.seconds)
    run = {
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_sha": git_sha(),
        "cores": os.cpu_count(),
        "load_average": {"before": [round(v, 2) for v in load_before], "after": [round(v, 2) for v in os.getloadavg()]},
        "seconds_per_load": args.seconds,
        "load_generator": "wrk -t1 (one thread), keep-alive connections, benchmarks/predict_load.lua",
        "flask_server": "Flask development server, app.run(threaded=True)",
        "serving": dataclasses.asdict(load_config(None).serving),  # as the server read it, env overrides included
        "floor": floor,
        "flask": flask,
        "vertex_local": vertex,
    }
    previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else None
    print(serve_report.render(run, previous))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(run, indent=2) + "\n")
    print(f"\nsaved to {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
