"""The whole pipeline on vertex-local, as `make demo` runs it: python -m scripts.demo [--keep]

Starts vertex-local if nothing answers at [vertex] api_endpoint, then runs submit_training, gate,
register and deploy in-process, in order, as a workflow runs them (the demo orchestrates; it is not a
step), and ends like the walkthrough (`real : 7` / `predicted : 7`) with a ready curl command. A second
run trains a challenger, compares it with production in the gate and canary-deploys it. Each run
registers its own version: it is named `<short HEAD>-demo-<UTC time>` rather than the bare commit SHA,
because registering the same SHA twice is a no-op.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import functools
import gc
import importlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlparse

import numpy as np

from native_logs import collector_paused, import_tensorflow
from pipeline_config import Config, ConfigError, load_task_of
from scripts.core.demo_timing import Phases, seconds_since_process_start
from scripts.core.step import (
    Environ,
    StepError,
    StepResult,
    add_common_flags,
    load_step_config,
    print_settings,
    run_main,
    run_step,
)
from scripts.core.step_runner import EXIT_FAILED
from vertex_local import daemon

STEP = "demo"
# The steps in the order a workflow runs them. Imported by import_steps(), not at the top: with them comes
# google.cloud.aiplatform, seconds of imports, done while vertex-local starts.
STEPS = ("submit_training", "gate", "register", "deploy")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    add_common_flags(parser)
    parser.add_argument("--keep", action="store_true", help="leave vertex-local running afterwards")
    parser.add_argument("--state-dir", default=".vertex-local", help="vertex-local's state (default: .vertex-local)")
    return parser


def start_server(api_endpoint: str, state_dir: Path, profile: str | None = None) -> None:
    """vertex-local in the background with the profile's staging bucket, as `make up` starts it (so `make down`
    stops it); waits until it answers."""
    address = urlparse(api_endpoint)
    try:
        flags = ["--staging-bucket", "--preload-tensorflow", *(["--profile", profile] if profile else [])]
        started = daemon.start(address.hostname or "127.0.0.1", address.port or 80, state_dir, flags) == 0
    except OSError as exc:  # e.g. a state dir that cannot be created
        raise StepError(f"vertex-local did not come up at {api_endpoint}: {exc}") from exc
    if not started:
        raise StepError(f"vertex-local did not come up at {api_endpoint}; see {state_dir / 'server.log'}")


def import_steps() -> dict[str, ModuleType]:
    """The pipeline's steps by name, in order (importing them imports the SDKs)."""
    with collector_paused():
        return {name: importlib.import_module(f"scripts.{name}") for name in STEPS}


def start_server_importing_steps(api_endpoint: str, state_dir: Path, profile: str | None) -> dict[str, ModuleType]:
    """start_server() in a thread while this one imports the steps: the server's process starts on its own core
    while the thread waits for /healthz, so the imports cost no time of their own. A failed import still waits
    for the server and stops it (nothing left running); a server that did not come up raises its StepError."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="server-start") as pool:
        starting = pool.submit(start_server, api_endpoint, state_dir, profile)
        try:
            steps = import_steps()
        except BaseException:
            if starting.exception() is None:  # waits for the start
                daemon.stop(state_dir)
            raise
    starting.result()
    return steps


def head_sha() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def demo_identity(head: str | None, now: datetime.datetime) -> str:
    """A per-run stand-in for the git SHA: a valid label value and (as sha-<it>) a valid alias."""
    return f"{(head or 'nogit')[:12]}-demo-{now:%Y%m%d%H%M%S}"


def quiet_sdk_logs() -> None:
    """The SDK logs each call at INFO ("To use this Model in another session: ..."); the demo tells its own story.
    Every aiplatform module logger sets its own level, so each is turned down, not just the parent."""
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if name.startswith("google.cloud.aiplatform") and isinstance(logger, logging.Logger):
            logger.setLevel(logging.WARNING)


PHASE_OF_STEP = {"submit_training": "training"}


def quiet_tensorflow(keras_extras: bool = True) -> None:
    """The gate loads both SavedModels in this process: TensorFlow's first import here would print its C++ log
    lines (`I0000 ... port.cc:153] oneDNN ...`) among the demo's own, so it is imported through native_logs.
    keras_extras: the task's (Task.keras_extras): its code runs here too (the gate's data, the smoke test's)."""
    if "tensorflow" not in sys.modules:
        import_tensorflow(False, os.environ, keras_extras=keras_extras)


def import_for_the_gate(keras_extras: bool = True) -> None:
    """What the gate imports on its first call: TensorFlow (quietly) and scipy.stats (scripts.comparison.mcnemar)."""
    with collector_paused():
        quiet_tensorflow(keras_extras)
        importlib.import_module("scipy.stats")


class TensorFlowMeanwhile:
    """import_for_the_gate() in a background thread, started once the training job is submitted: the imports take
    seconds of one core, done while the job runs instead of in the gate's first seconds. Not started before the
    submission: the import holds the interpreter's lock for long stretches (loading TensorFlow's libraries), and
    the submission would wait for it. Joined before anything else in this process imports TensorFlow (importing
    its parts from two threads at once breaks); a failed import is left to the gate's own quiet_tensorflow(),
    which raises it where it counts."""

    def __init__(self, keras_extras: bool = True) -> None:
        self.keras_extras = keras_extras  # the task's (Task.keras_extras)
        self.thread = threading.Thread(target=import_for_the_gate, args=(keras_extras,), name="import-for-the-gate")

    def start(self, _job: str = "") -> None:
        if self.thread.ident is None:
            self.thread.start()

    def wait(self) -> None:
        if self.thread.ident is not None:
            self.thread.join()


def summarize(step: str, out: dict[str, Any]) -> str:
    """One readable line per step, from the record it returned (what it wrote to out/<step>.json)."""
    if step == "submit_training":
        return f"trained in {out['wall_time_s']} s ({out['state']}): {out['model_dir']}"
    if step == "gate":
        return f"{'passed' if out['passed'] else 'FAILED'}: {out['reason']}"
    if step == "register":
        how = "already registered as" if out["reused"] else "registered"
        return f"{how} version {out['version_id']} ({', '.join(out['aliases'])})"
    smoke = out.get("smoke") or {}
    return (
        f"version {out['version_id']} serves {out['traffic_split']} on {out['endpoint']}; smoke test: "
        f"{smoke.get('digits')} digits, accuracy {smoke.get('accuracy')}, "
        f"p95 {smoke.get('p95_latency_ms')} ms"
    )


def pipeline(
    args: argparse.Namespace,
    identity: str,
    environ: Environ,
    phases: Phases,
    tensorflow: TensorFlowMeanwhile,
    modules: dict[str, ModuleType],
) -> dict[str, StepResult]:
    """The four steps (`modules`, from import_steps()) in order, in-process; their results by step name. The first
    failing step stops the demo. `tensorflow` imports TensorFlow once the job is submitted; the gate waits for it."""
    common_argv = ["--out-dir", args.out_dir] + (["--profile", args.profile] if args.profile else [])
    identified = ["--git-sha", identity]
    steps = [(modules[name], [] if name == "gate" else identified) for name in STEPS]
    results = {}
    for number, (module, argv) in enumerate(steps, 1):
        print(f"\n== {number}/{len(steps)} {module.STEP}", flush=True)
        phase = PHASE_OF_STEP.get(module.STEP, module.STEP)
        run = module.run
        if module.STEP == "submit_training":
            run = functools.partial(module.run, on_submitted=tensorflow.start)
        with phases.timed(phase):
            if module.STEP == "gate":
                tensorflow.wait()
                quiet_tensorflow(tensorflow.keras_extras)
            outcome = run_step(module.STEP, module.build_parser(), run, common_argv + argv, environ)
        if outcome.status != 0 or outcome.result is None:  # the step has said why; the demo exits with its status
            reason = f"stopped: {module.STEP} failed (exit {outcome.status}); its reason is above"
            raise StepError(reason, outcome.status or EXIT_FAILED)
        results[module.STEP] = outcome.result
        summary = summarize(module.STEP, outcome.result.record or {})
        print(f"== {module.STEP}: {summary} [{phases.rows[phase][0]:.1f} s]", flush=True)
    return results


def closing(cfg: Config, deployed: dict[str, Any], out_dir: str, server_stays: bool) -> None:
    """The walkthrough's last lines: test digit 0 through endpoint.predict, then a curl to do it by hand."""
    from google.cloud import aiplatform

    from scripts.core import probe  # imported with the steps

    task = load_task_of(cfg)
    x, y = probe.load_digits(cfg.training.dataset, cfg.training.seed, 1, task)
    response = aiplatform.Endpoint(deployed["endpoint"]).predict(instances=task.instances(x[:1]))
    body = Path(out_dir) / f"{task.item}.json"  # MNIST: digit.json
    body.write_text(json.dumps({"instances": task.instances(x[:1])}), encoding="utf-8")
    print(f"\nreal : {y[0]}")
    print(f"predicted : {np.argmax(response.predictions, axis=1)[0]}")
    print(f"\nendpoint: {deployed['predict_url']}")
    print(f"curl -s -X POST -H 'Content-Type: application/json' --data @{body} {deployed['predict_url']}")
    if not server_stays:
        print("(vertex-local stops now; `make demo KEEP=1` keeps it running for the curl)")


def run(args: argparse.Namespace, environ: Environ, started_s: float | None = None) -> StepResult:
    """The demo; started_s, when given, is how long its process ran before (Python's start and the imports)."""
    phases = Phases()
    if started_s is not None:
        phases.rows["python start and imports"] = (started_s, "")
    cfg = load_step_config(args.profile, environ)
    if not cfg.vertex.api_endpoint:
        raise ConfigError(f"profile {cfg.profile!r} has no vertex.api_endpoint; the demo runs on vertex-local")
    identity = demo_identity(head_sha(), datetime.datetime.now(datetime.UTC))
    print_settings(STEP, cfg, {"api_endpoint": cfg.vertex.api_endpoint, "run": identity})
    began = time.monotonic()
    state_dir = Path(args.state_dir)
    started_here = not daemon.is_healthy(cfg.vertex.api_endpoint.rstrip("/"))
    if started_here:
        with phases.timed("server start", "the steps and SDKs imported meanwhile"):
            modules = start_server_importing_steps(cfg.vertex.api_endpoint, state_dir, args.profile)
    else:
        with phases.timed("imports", "the steps and SDKs"):
            modules = import_steps()
    quiet_sdk_logs()  # its loggers exist once it is imported
    ending, tensorflow = "failed", TensorFlowMeanwhile(load_task_of(cfg).keras_extras)
    try:
        results = pipeline(args, identity, environ, phases, tensorflow, modules)
        finish(cfg, environ, results, phases, args.out_dir, server_stays=not started_here or args.keep)
        ending = "done"
    finally:
        tensorflow.wait()  # a demo that stops early still ends only once the import has (no half-imported exit)
        if started_here and not args.keep:
            with phases.timed("server stop"):
                daemon.stop(state_dir)
        if started_here and args.keep:
            print(f"{STEP}: vertex-local keeps running; stop it with: make down")
        print(f"{STEP}: {ending} in {time.monotonic() - began:.1f} s", flush=True)
        print(phases.table(), flush=True)
    if ending == "done":  # the console: models, endpoints, charts and a drawing pad to test the model
        stays = "" if not started_here or args.keep else " (with make demo KEEP=1)"
        print(f"console: {cfg.vertex.api_endpoint.rstrip('/')}/console/{stays}")
    return StepResult()  # the steps wrote their own out/<step>.json


def finish(
    cfg: Config, environ: Environ, results: dict[str, StepResult], phases: Phases, out_dir: str, server_stays: bool
) -> None:
    """The walkthrough's closing call, then the table's notes: the job's fit, and the smoke test apart from the
    deploy step that ran it."""
    from scripts.core import cloud  # imported with the steps

    deployed = results["deploy"].record or {}
    with phases.timed("walkthrough call"):
        cloud.connect(cfg, environ)
        closing(cfg, deployed, out_dir, server_stays)
    describe_training(cfg, phases, (results["submit_training"].record or {}).get("model_dir", ""))
    if smoke := deployed.get("smoke"):  # the deploy step's smoke test, timed apart
        note = f"{smoke.get('digits')} digits, {smoke.get('calls')} calls"
        phases.split("deploy", "smoke test", smoke.get("seconds"), note)


def describe_training(cfg: Config, phases: Phases, model_dir: str) -> None:
    """The training phase's note: how long of it the fit took, from the job's metrics.json."""
    from scripts.core import cloud  # imported with the steps

    try:
        metrics = cloud.read_json(f"{model_dir}/metrics.json", cloud.storage_client(cfg))
        note = f"the job; its fit {metrics['wall_time_s']:.1f} s, accuracy {metrics['accuracy']:.4f}"
    except (StepError, KeyError, TypeError, ValueError):
        return
    phases.rows["training"] = (phases.rows["training"][0], note)


def main(argv: Sequence[str] | None = None) -> int:
    # Run as a program (no argv), the process is the demo's own, so its age so far counts as a phase.
    started_s = seconds_since_process_start() if argv is None else None
    return run_main(STEP, build_parser(), functools.partial(run, started_s=started_s), argv)


if __name__ == "__main__":
    status = main()
    # The process ends now: its objects (TensorFlow's, the SDK's: millions) are left out of the collections the
    # interpreter runs as it exits, which took seconds (5 s of 2 loaded cores) after the demo's last line; exit
    # handlers still run and open files are still flushed and closed.
    gc.freeze()
    raise SystemExit(status)
