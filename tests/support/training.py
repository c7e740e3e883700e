"""The real trainer in a subprocess: train_in_subprocess / train_baseline (tests/conftest.py's trained_model_dir),
run_trainer and the trainer tests' three shared runs, and baseline_once, trained once per test run (once.py);
untrained_baseline_once, the baseline exported without a fit, once per test run, for tests that only load one;
train_forked, several runs from one import of TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.support.once import built_once
from tests.support.vertex_local_server import REPO_ROOT

TRAINER_MODULE = "trainer.task"
TRAINER_TIMEOUT_S = 300  # a few epochs of the small models take seconds; a hung trainer must not hang the run


def baseline_once(tmp_path_factory: pytest.TempPathFactory, name: str, *flags: str) -> Path:
    """`train_baseline` with these flags once per test run (tests/support/once.py); its model dir."""
    return built_once(tmp_path_factory, name, lambda folder: train_baseline(folder / "model", *flags)) / "model"


# The baseline's graph with its initial weights, exported as the trainer exports: no fit, no data, and no tier (it
# runs no `python -m trainer.task`), so unit tests that load a SavedModel in a fresh interpreter can share it.
EXPORT_UNTRAINED_BASELINE = """
import os
import sys
from pathlib import Path
from native_logs import import_tensorflow
import_tensorflow(False, os.environ)
from trainer.export import export_saved_model
from trainer.model import build_model
export_saved_model(build_model("baseline", 0.001, 1), Path(sys.argv[1]))
"""


def export_untrained_baseline(model_dir: Path) -> Path:
    """The untrained baseline exported to `model_dir` by a fresh interpreter; `model_dir`."""
    command = [sys.executable, "-c", textwrap.dedent(EXPORT_UNTRAINED_BASELINE), str(model_dir)]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=TRAINER_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (model_dir / "saved_model.pb").is_file()
    return model_dir


def untrained_baseline_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`export_untrained_baseline` once per test run (tests/support/once.py); its model dir."""
    folder = built_once(
        tmp_path_factory, "untrained-baseline", lambda built: export_untrained_baseline(built / "model")
    )
    return folder / "model"


def train_in_subprocess(model_dir: Path, *flags: str) -> Path:
    """`python -m trainer.task FLAGS --model-dir MODEL_DIR`; its model dir. No AIP_* or PIPELINE_* variable of this
    process reaches it (a session fixture sets PIPELINE_TRAINING_*), so what it trains depends on the flags and
    pipeline.toml alone, whichever test asked first."""
    command = [sys.executable, "-m", "trainer.task", *flags, "--model-dir", str(model_dir)]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIP_", "PIPELINE_"))}
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=TRAINER_TIMEOUT_S)
    assert done.returncode == 0, f"trainer failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert (model_dir / "saved_model.pb").is_file()
    return model_dir


# One interpreter imports TensorFlow and Keras as trainer.task.main does (the import is ~3.3 CPU-s of a ~5 s run of
# the small models), then forks a child per run that calls main() with that run's flags: each child starts where a
# fresh `python -m trainer.task` is after its import, and main() seeds everything it draws, so the models and
# metrics are the ones separate processes train (accuracy, loss, confusion matrix and weights compared equal).
# Arguments: `-m trainer.task` (read by no one here: they let tests/support/tiers.py's audit see a trainer run and
# ask for the slow tier, as it does for `python -m trainer.task`), then a JSON list of argv lists. Each child's exit
# status is printed as "run N: exit S"; any non-zero one makes the parent's non-zero.
FORKED_RUNS = """
import json
import os
import sys
import traceback
from pipeline_config import load_config, load_task_of
from trainer import task
task.import_frameworks(load_task_of(load_config(None, dict(os.environ))), False)  # as the job's main() does


def run(argv):
    try:
        status = task.main(argv)
    except SystemExit as exc:  # argparse's usage errors
        status = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def reap(running):  # waits for one child to end, reports it, and says whether it failed
    pid, code = os.wait()
    print(f"run {running.pop(pid)}: exit {os.waitstatus_to_exitcode(code)}", flush=True)
    return code != 0


# Two at a time on two cores or more: a worker that waits for these runs has its core idle meanwhile.
running, failed, at_once = {}, False, min(2, os.cpu_count() or 1)
for number, argv in enumerate(json.loads(sys.argv[3])):
    while len(running) >= at_once:
        failed = reap(running) or failed
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        run(argv)
    running[child] = number
while running:
    failed = reap(running) or failed
sys.exit(1 if failed else 0)
"""


def train_forked(runs: Sequence[tuple[Path, Sequence[str]]]) -> list[Path]:
    """`train_in_subprocess(model_dir, *flags)` for each (model_dir, flags), two at a time, from one import of
    TensorFlow (FORKED_RUNS); the model dirs. The same environment: no AIP_* or PIPELINE_* variable."""
    argvs = [[*flags, "--model-dir", str(model_dir)] for model_dir, flags in runs]
    command = [sys.executable, "-c", textwrap.dedent(FORKED_RUNS), "-m", TRAINER_MODULE, json.dumps(argvs)]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIP_", "PIPELINE_"))}
    timeout = TRAINER_TIMEOUT_S * max(1, len(runs))
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"a trainer failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    for model_dir, _ in runs:
        assert (model_dir / "saved_model.pb").is_file(), done.stdout[-3000:]
    return [model_dir for model_dir, _ in runs]


def train_baseline(model_dir: Path, *flags: str) -> Path:
    """The baseline model on mnist-sample, with these flags; its model dir."""
    return train_in_subprocess(model_dir, "--dataset", "mnist-sample", "--model", "baseline", *flags)


def run_trainer(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m trainer.task ARGS` in a subprocess, as the Makefile and the custom job run it."""
    return subprocess.run(
        [sys.executable, "-m", "trainer.task", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def train_baseline_run(folder: Path) -> None:
    model_dir = folder / "model"
    result = run_trainer(
        "--dataset",
        "mnist-sample",
        "--model",
        "baseline",
        "--epochs",
        "8",
        "--git-sha",
        "abc1234",
        "--model-dir",
        "/nonexistent/ignored-because-AIP_MODEL_DIR-wins",
        env={"AIP_MODEL_DIR": str(model_dir)},
    )
    assert result.returncode == 0, result.stderr[-2000:]


def train_cnn_run(folder: Path) -> None:
    flags = ("--dataset", "mnist-sample", "--model", "cnn", "--epochs", "1", "--seed", "3")
    result = run_trainer(*flags, "--model-dir", str(folder / "model"))
    assert result.returncode == 0, result.stderr[-2000:]
    (folder / "output.txt").write_text(result.stdout + result.stderr)


# The verbose run: `trainer.task.main` with --verbose, then a line TensorFlow's C++ logger prints on every machine
# (what its import logs varies with the CPU), so the test sees that --verbose left that logging on and unfiltered.
VERBOSE_MAIN = """
import sys
from trainer import task
status = task.main(sys.argv[1:])
import tensorflow as tf
tf.raw_ops.PrintV2(input="provoked by the test", output_stream="log(info)")
sys.exit(status)
"""


def train_cnn_verbose_run(folder: Path) -> None:
    """train_cnn_run's flags and --verbose, in a fresh interpreter: its exit status, stdout and stderr are kept
    beside the model (returncode.txt, stdout.txt, stderr.txt) for the tests to assert, whatever they are."""
    flags = ("--dataset", "mnist-sample", "--model", "cnn", "--epochs", "1", "--seed", "3", "--verbose")
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(VERBOSE_MAIN), *flags, "--model-dir", str(folder / "model")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TRAINER_TIMEOUT_S,
    )
    (folder / "returncode.txt").write_text(str(result.returncode))
    (folder / "stdout.txt").write_text(result.stdout)
    (folder / "stderr.txt").write_text(result.stderr)
