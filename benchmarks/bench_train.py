"""Training figures side by side, from one run on this machine: python -m benchmarks.bench_train [--quick]

First where the default model's training time goes (benchmarks/train_floor.py: the floor, the compiled train step
on in-memory batches, beside the pipeline's pieces), then real `python -m trainer.task` processes, the default
cnn's images/s against that floor. The walkthrough's dense model is the baseline row. --quick leaves out the
Fashion-MNIST run (minutes). Results go to .bench/train.json; the previous run's figures are printed beside.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / ".bench" / "train.json"
FLOOR_SETS = ("trainer", "no-determinism", "one-thread")
FLOOR_TARGET = 0.80  # the default model's training images/s, at least this share of its floor (issue 15)
ACCURACY_TARGET = 0.985  # the default model on the sample's test split, seed 42 (issue 21; docs/trainer.md: 3 seeds)

# (name, trainer flags, accuracy target); the default cnn's row is the one measured against the floor.
RUNS = [
    ("baseline on mnist-sample", ["--dataset", "mnist-sample", "--model", "baseline"], None),
    ("cnn on mnist-sample (default)", ["--dataset", "mnist-sample", "--model", "cnn"], ACCURACY_TARGET),
    # Clothes are not digits: shifts and rotations cost more than they teach here, and 8 epochs fit the budget.
    (
        "cnn on fashion-mnist (60k/10k)",
        ["--dataset", "fashion-mnist", "--model", "cnn", "--no-augment", "--epochs", "8", "--batch-size", "128"],
        0.91,
    ),
]
DEFAULT_RUN = RUNS[1][0]
TRAINERS_FIT = "trainer's fit (+ validation, in memory)"  # train_floor.py's variant running trainer.task's fit


def python_module(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench-train: python -m {module} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done


def floors() -> dict[str, dict[str, float]]:
    """Every variant of every set of benchmarks/train_floor.py: images/s and CPU microseconds per image."""
    figures: dict[str, dict[str, float]] = {}
    for name in FLOOR_SETS:
        figures.update(json.loads(python_module("benchmarks.train_floor", "--set", name).stdout.splitlines()[-1]))
    return figures


def run_trainer(flags: list[str], model_dir: Path) -> dict:
    """Train once; the figures come from the run's own metrics.json, plus the whole process's wall time."""
    started = time.perf_counter()
    python_module("trainer.task", *flags, "--model-dir", str(model_dir))
    metrics = json.loads((model_dir / "metrics.json").read_text())
    epochs = metrics["hyperparameters"]["epochs"]
    return {
        "accuracy": metrics["accuracy"],
        "epochs": epochs,
        "fit_s": metrics["wall_time_s"],
        "images_per_s": round(metrics["train_examples"] * epochs / metrics["wall_time_s"], 1),
        "process_s": round(time.perf_counter() - started, 2),
    }


def print_floors(figures: dict[str, dict[str, float]], previous: dict[str, dict[str, float]]) -> None:
    floor = figures["floor"]["images_per_s"]
    print(f"\n{'where the time goes (cnn, 4 interleaved rounds)':44} {'images/s':>9} {'/ floor':>8} "
          f"{'CPU us/image':>13} {'previous images/s':>18}")  # fmt: skip
    for name, figure in figures.items():
        rate = figure["images_per_s"]
        old = previous.get(name)
        before = f"{old['images_per_s']:,.0f}" if isinstance(old, dict) else "-"  # older layouts: a bare float
        print(f"{name:44} {rate:>9,.0f} {rate / floor:>8.2f} {figure['cpu_us_per_image']:>13,.0f} {before:>18}")


def print_runs(runs: list[dict], previous: dict[str, dict], floor: float) -> None:
    print(f"\n{'run':32} {'epochs':>6} {'accuracy':>9} {'fit s':>7} {'images/s':>9} {'/ floor':>8} {'process s':>10}"
          f"  {'previous: accuracy, fit s':>26}")  # fmt: skip
    targets = {name: target for name, _, target in RUNS}
    for row in runs:
        ratio = f"{row['images_per_s'] / floor:.2f}" if row["name"] == DEFAULT_RUN else ""
        old = previous.get(row["name"])
        before = f"{old['accuracy']:.4f}, {old['fit_s']:.1f}" if old else "-"
        target = targets[row["name"]]
        verdict = f"{'meets' if row['accuracy'] >= target else 'MISSES'} >= {target}" if target else "baseline"
        print(f"{row['name']:32} {row['epochs']:>6} {row['accuracy']:>9.4f} {row['fit_s']:>7.1f} "
              f"{row['images_per_s']:>9,.0f} {ratio:>8} {row['process_s']:>10.1f}  {before:>26}  "
              f"{verdict}")  # fmt: skip


def print_targets(runs: list[dict], figures: dict[str, dict[str, float]]) -> None:
    floor = figures["floor"]["images_per_s"]
    fit = figures[TRAINERS_FIT]["images_per_s"] / floor
    default = next(row for row in runs if row["name"] == DEFAULT_RUN)
    process = default["images_per_s"] / floor
    checks = [
        (fit >= FLOOR_TARGET, f"trainer's fit >= {FLOOR_TARGET:.2f} x floor, same rounds", f"{fit:.2f}"),
        (process >= FLOOR_TARGET, f"trainer process >= {FLOOR_TARGET:.2f} x floor", f"{process:.2f}"),
        (default["accuracy"] >= ACCURACY_TARGET, f"default cnn accuracy >= {ACCURACY_TARGET}",
         f"{default['accuracy']:.4f}"),
    ]  # fmt: skip
    print("\ntargets:")
    for met, what, measured in checks:
        print(f"  {'met   ' if met else 'MISSED'} {what:44} measured {measured}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_train", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="leave out the Fashion-MNIST run")
    args = parser.parse_args(argv)
    previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    load = os.getloadavg()[0]
    print(f"bench-train: {os.cpu_count()} cores, load average {load:.2f} before the run", flush=True)
    figures = floors()
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for index, (name, flags, _) in enumerate(RUNS[:2] if args.quick else RUNS):
            runs.append({"name": name, **run_trainer(flags, Path(scratch) / str(index))})
            print(f"  done: {name}", flush=True)
    RESULTS.parent.mkdir(exist_ok=True)  # saved first: minutes of measuring are never lost to the printing
    record = {"cores": os.cpu_count(), "load_before": round(load, 2), "floors": figures, "runs": runs}
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    floor = figures["floor"]["images_per_s"]
    print_floors(figures, previous.get("floors", {}))
    print_runs(runs, {row["name"]: row for row in previous.get("runs", [])}, floor)
    print_targets(runs, figures)
    print(f"\nsaved to {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
