"""Serving figures side by side, from one run on this machine: python -m benchmarks.bench_serve [--seconds 10]

1. the floor: serving_default called in-process (1 image, 64 images), 1-image and 64-image bodies parsed;
2. the naive baseline tutorials ship: Flask's dev server + model.predict (benchmarks/flask_baseline.py);
3. vertex-local's :predict: a real `python -m vertex_local serve`, a model trained by the real trainer,
   uploaded and deployed through the real SDK;
4. the peer: KServe's Python model server (benchmarks/kserve_server.py, from its own venv, --kserve-python);
5. the serving image's server (python -m vertex_local.serving.container, as the image runs it, the model read from
   vertex-local's storage), and vertex-local forwarding to it (serve --own-image subprocess): the forwarding hop's
   cost is the difference between the two, printed on its own.
Servers run as their own processes; wrk (one thread) is the load generator, with real test digits as
bodies: one digit per body at 1 and 32 connections, 64 digits per body at 8 connections. vertex-local and
KServe run side by side and take turns at each load, so the machine's other work weighs on both alike.
Results are printed and saved to .bench/serve.json; the previous run's figures are shown beside.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks import serve_report
from benchmarks.serve_deploy import deploy_model, stage_model
from benchmarks.serve_processes import (
    REPO,
    ServerProcess,
    check_answers,
    free_port,
    quiet_env,
    run_wrk,
    test_digits,
    train_model,
    write_bodies,
)
from pipeline_config import load_config

RESULTS = REPO / ".bench" / "serve.json"
KSERVE_WORKERS = 2  # one per core: KServe's best setting here (see benchmarks/kserve_server.py)
DIGITS = 100  # distinct real digits the loads cycle through
BATCH_IMAGES = 64  # digits in one body of the large-body load: max_batch_size, the floor's batch
BATCH_BODIES = 10
WARM_UP_S = 2.0  # a first short load, not measured: connections, TF's first batch sizes, caches
SLICES = 5  # turns each measured load is cut into; the servers measured together take them in rotation
# name: (bodies, connections). Flask, at 16-25 req/s, only gets the 1-digit loads.
Target = tuple[ServerProcess, str]  # a running server and its predict URL
LOADS = {"one_client": ("single", 1), "clients_32": ("single", 32), "batch64_8": ("batch", 8)}


@dataclasses.dataclass(frozen=True)
class Bodies:
    """The two bodies files and, for each line of each, the probabilities the model gives its digits."""

    single: Path
    batch: Path
    single_expected: list[np.ndarray]
    batch_expected: list[np.ndarray]

    def file(self, kind: str) -> Path:
        return self.single if kind == "single" else self.batch

    def expected(self, kind: str) -> list[np.ndarray]:
        return self.single_expected if kind == "single" else self.batch_expected


def measure_floor(model_dir: Path, single: Path, batch: Path) -> tuple[dict, np.ndarray]:
    """Floor figures at TF's default thread pools and at one thread per op (vertex-local's setting)."""
    figures: dict = {}
    for label, flags in (("default", []), ("1thread", ["--tf-threads", "1"])):
        command = [sys.executable, "-m", "benchmarks.serve_floor", str(model_dir), str(single), str(batch), *flags]
        result = subprocess.run(command, cwd=REPO, env=quiet_env(), capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"bench-serve: the floor measurement failed:\n{result.stderr[-2000:]}")
        floor = json.loads(result.stdout)
        probabilities = np.asarray(floor.pop("probabilities"), np.float32)
        figures[f"model_1_ms_{label}"] = floor.pop("model_1_ms")
        figures[f"model_64_ms_{label}"] = floor.pop("model_64_ms")
        figures.update(floor)  # the JSON figures do not depend on TF's threads; the last run's stand
    return figures, probabilities


def measure_servers(targets: dict[str, Target], bodies: Bodies, seconds: float, loads: list[str]) -> dict[str, dict]:
    """Answers checked, a warm-up, then each of `loads` for `seconds` per server, answers checked again.

    With two servers or more, a load is cut into SLICES turns and the servers take them in rotation, so that a
    change in what else runs on the machine hits every server alike: their ratios hold under the same conditions.
    """
    for server, url in targets.values():
        check_all_answers(server, url, bodies)
        run_wrk(url, bodies.single, 32, WARM_UP_S)
    figures: dict[str, dict] = {name: {} for name in targets}
    for load in loads:
        kind, connections = LOADS[load]
        turns: dict[str, list[dict]] = {name: [] for name in targets}
        for _ in range(SLICES if len(targets) > 1 else 1):  # alone (Flask, seconds per answer), one whole turn
            for name, (server, url) in targets.items():
                cpu_before = server.cpu_seconds()
                turn = run_wrk(url, bodies.file(kind), connections, seconds / SLICES)
                turns[name].append({**turn, "server_cpu_s": server.cpu_seconds() - cpu_before})
        for name in targets:
            figures[name][load] = combine_turns(turns[name])
    for server, url in targets.values():
        check_all_answers(server, url, bodies)  # still right after the loads
    return figures


def check_all_answers(server: ServerProcess, url: str, bodies: Bodies) -> None:
    for kind in ("single", "batch"):
        check_answers(url, bodies.file(kind), bodies.expected(kind), server.name)


def combine_turns(turns: list[dict]) -> dict:
    """One load's figures from its turns: counts add up, p50 is the turns' median, p99 and max their worst."""
    requests = sum(turn["requests"] for turn in turns)
    return {
        "clients": turns[0]["clients"],
        "requests": requests,
        "req_per_s": round(requests / sum(turn["seconds"] for turn in turns), 1),
        "p50_ms": statistics.median(turn["p50_ms"] for turn in turns),
        "p99_ms": max(turn["p99_ms"] for turn in turns),
        "max_ms": max(turn["max_ms"] for turn in turns),
        "errors": sum(turn["errors"] for turn in turns),
        # Less sensitive than rates to what else runs on the machine: the server's own CPU per answer.
        "server_cpu_us_per_request": round(sum(turn["server_cpu_s"] for turn in turns) * 1e6 / max(requests, 1), 1),
        "turns": len(turns),
    }


def start_flask(stack: contextlib.ExitStack, model_dir: Path, scratch: Path) -> Target:
    port = free_port()
    command = [sys.executable, "-m", "benchmarks.flask_baseline", str(model_dir), "--port", str(port)]
    server = ServerProcess("flask baseline", command, f"http://127.0.0.1:{port}/healthz", scratch / "flask.log")
    stack.callback(server.stop)
    server.start()
    return server, f"http://127.0.0.1:{port}/predict"


def start_kserve(stack: contextlib.ExitStack, python: str, model_dir: Path, scratch: Path) -> Target:
    """KServe's model server with 2 workers, started from its own interpreter; ready once both workers loaded."""
    port = free_port()
    command = [python, "benchmarks/kserve_server.py", "--model_dir", str(model_dir), "--http_port", str(port)]
    command += ["--workers", str(KSERVE_WORKERS)]
    health = f"http://127.0.0.1:{port}/v1/models/mnist"
    log = scratch / "kserve.log"
    server = ServerProcess("kserve", command, health, log, "kserve-bench: worker", KSERVE_WORKERS + 1)
    stack.callback(server.stop)
    server.start()  # the parent loads the model too: KServe starts only with ready models
    return server, f"{health}:predict"


def start_vertex_local(stack: contextlib.ExitStack, model_dir: Path, scratch: Path) -> Target:
    """vertex-local as users start it (`python -m vertex_local serve`, default flags: one log line per request)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "vertex_local", "serve", "--port", str(port), "--state-dir", str(scratch / "vl")]
    server = ServerProcess("vertex-local", command, f"{url}/healthz", scratch / "vertex-local.log")
    stack.callback(server.stop)
    server.start()
    return server, deploy_model(url, model_dir)


def start_container(stack: contextlib.ExitStack, storage_url: str, model_dir: Path, scratch: Path) -> Target:
    """The serving image's entrypoint under the custom-container contract, the model copied from vertex-local."""
    port = free_port()
    env = {"AIP_HTTP_PORT": str(port), "AIP_HEALTH_ROUTE": "/health", "AIP_PREDICT_ROUTE": "/predict",
           "AIP_STORAGE_URI": stage_model(storage_url, model_dir, "bench-container"),
           "STORAGE_EMULATOR_HOST": storage_url}  # fmt: skip
    command = [sys.executable, "-m", "vertex_local.serving.container", "--host", "127.0.0.1"]
    url = f"http://127.0.0.1:{port}"
    server = ServerProcess("serving image", command, f"{url}/health", scratch / "container.log", env=env)
    stack.callback(server.stop)
    server.start()
    return server, f"{url}/predict"


def start_forwarding(stack: contextlib.ExitStack, model_dir: Path, scratch: Path) -> Target:
    """vertex-local serving the model through the serving image's server as its own process (forwarded)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "vertex_local", "serve", "--port", str(port), "--state-dir", str(scratch / "fw")]
    server = ServerProcess("vertex-local forwarding", [*command, "--own-image", "subprocess"], f"{url}/healthz",
                           scratch / "forwarding.log")  # fmt: skip
    stack.callback(server.stop)
    server.start()
    return server, deploy_model(url, model_dir)


def kserve_version() -> str:
    """As pinned in benchmarks/requirements-kserve.txt, which make bench-serve installs."""
    pins = (REPO / "benchmarks" / "requirements-kserve.txt").read_text().splitlines()
    return next(line.split("==", 1)[1] for line in pins if line.startswith("kserve=="))


def git_sha() -> str | None:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return result.stdout.strip() or None


def prepare_bodies(scratch: Path, model_dir: Path) -> tuple[Bodies, dict]:
    """Both bodies files and the floor, whose in-process probabilities every server's answers are checked against."""
    pixels = test_digits(DIGITS)
    single, batch = scratch / "bodies.jsonl", scratch / "bodies64.jsonl"
    single_digits = write_bodies(single, pixels, 1, DIGITS)
    batch_digits = write_bodies(batch, pixels, BATCH_IMAGES, BATCH_BODIES)
    print("bench-serve: floor (in-process)", flush=True)
    floor, probabilities = measure_floor(model_dir, single, batch)
    expected = [[probabilities[chosen] for chosen in digits] for digits in (single_digits, batch_digits)]
    return Bodies(single, batch, *expected), floor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured load (default 10)")
    parser.add_argument("--kserve-python", help="the interpreter of KServe's venv (make bench-serve installs it)")
    parser.add_argument("--skip-flask", action="store_true", help="leave the naive baseline out (quicker runs)")
    parser.add_argument("--quick", action="store_true", help="5 s per load (wrk's 1 s turns), no Flask")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.skip_flask = float(SLICES), True
    load_before = os.getloadavg()
    flask = kserve = None
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as scratch_name:
        scratch = Path(scratch_name)
        print("bench-serve: training the model (cnn, 1 epoch, mnist-sample)", flush=True)
        model_dir = scratch / "model"
        train_model(model_dir)
        bodies, floor = prepare_bodies(scratch, model_dir)
        if not args.skip_flask:
            print("bench-serve: naive Flask baseline", flush=True)
            with contextlib.ExitStack() as stack:
                flask_only = {"flask": start_flask(stack, model_dir, scratch)}
                flask = measure_servers(flask_only, bodies, args.seconds, ["one_client", "clients_32"])["flask"]
        with contextlib.ExitStack() as stack:
            targets = {"vertex_local": start_vertex_local(stack, model_dir, scratch)}
            storage_url = targets["vertex_local"][1].split("/v1/", 1)[0]
            targets["container"] = start_container(stack, storage_url, model_dir, scratch)
            targets["forwarded"] = start_forwarding(stack, model_dir, scratch)
            if args.kserve_python:
                targets["kserve"] = start_kserve(stack, args.kserve_python, model_dir, scratch)
            print(f"bench-serve: {' and '.join(targets)}, taking turns", flush=True)
            measured = measure_servers(targets, bodies, args.seconds, list(LOADS))
        vertex, kserve = measured["vertex_local"], measured.get("kserve")
        container, forwarded = measured["container"], measured["forwarded"]
    run = {
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_sha": git_sha(),
        "cores": os.cpu_count(),
        "load_average": {"before": [round(v, 2) for v in load_before], "after": [round(v, 2) for v in os.getloadavg()]},
        "seconds_per_load": args.seconds,
        "load_generator": f"wrk -t1 (one thread), keep-alive connections, {SLICES} turns per load and server",
        "flask_server": "Flask development server, app.run(threaded=True)",
        "serving": dataclasses.asdict(load_config(None).serving),  # as the server read it, env overrides included
        "floor": floor,
        "flask": flask,
        "vertex_local": vertex,
        "kserve": kserve,
        "container": container,
        "forwarded": forwarded,
        "kserve_server": f"KServe {kserve_version()} model server, {KSERVE_WORKERS} workers, TF threaded as ours",
    }
    previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else None
    print(serve_report.render(run, previous))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(run, indent=2) + "\n")
    print(f"\nsaved to {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
