"""The report's two charts, as Mermaid `xychart-beta` blocks (for Markdown) and as Matplotlib PNGs.

Used by scripts.report.render; nothing here reads files or the environment.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from tasks.mnist import TASK as MNIST

CLASSES = list(MNIST.labels)  # the default task's; render passes the candidate's task's labels


def axis_floor(values: Sequence[float], step: float = 0.05) -> float:
    """A y-axis minimum a little below the data, so small differences near 1.0 stay visible."""
    low = min(values, default=0.0)
    return max(0.0, round((low // step) * step, 2))


def _numbers(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{value:.4f}" for value in values) + "]"


def mermaid_training_curve(history: Sequence[dict[str, Any]]) -> str:
    """Train and test accuracy per epoch: first line train, second line test."""
    epochs = [str(row["epoch"]) for row in history]
    train = [float(row["accuracy"]) for row in history]
    test = [float(row["val_accuracy"]) for row in history]
    return "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            '    title "Accuracy per epoch"',
            f'    x-axis "epoch" [{", ".join(epochs)}]',
            f'    y-axis "accuracy" {axis_floor(train + test):.2f} --> 1',
            f"    line {_numbers(train)}",
            f"    line {_numbers(test)}",
            "```",
        ]
    )


def mermaid_per_class(
    candidate: Sequence[float], production: Sequence[float] | None, labels: Sequence[str] = CLASSES
) -> str:
    """Candidate accuracy per class as bars, production (when there is one) as a line."""
    lines = [
        "```mermaid",
        "xychart-beta",
        '    title "Accuracy per class"',
        f'    x-axis "class" [{", ".join(labels)}]',
        f'    y-axis "accuracy" {axis_floor(list(candidate) + list(production or [])):.2f} --> 1',
        f"    bar {_numbers(candidate)}",
    ]
    if production is not None:
        lines.append(f"    line {_numbers(production)}")
    lines.append("```")
    return "\n".join(lines)


def _save(figure: Figure, path: Path) -> Path:
    # The Agg canvas renders without a display and without pyplot's global state.
    FigureCanvasAgg(figure)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    return path


def training_curve_png(history: Sequence[dict[str, Any]], path: Path) -> Path:
    """Accuracy and loss per epoch, train and test, side by side."""
    figure = Figure(figsize=(10, 4))
    epochs = [row["epoch"] for row in history]
    for axes, key in zip(figure.subplots(1, 2), ("accuracy", "loss"), strict=True):
        axes.plot(epochs, [row[key] for row in history], marker="o", label=f"train {key}")
        axes.plot(epochs, [row[f"val_{key}"] for row in history], marker="o", label=f"test {key}")
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylabel(key)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.suptitle("Training curve")
    return _save(figure, path)


def per_class_png(
    candidate: Sequence[float], production: Sequence[float] | None, path: Path, labels: Sequence[str] = CLASSES
) -> Path:
    """Accuracy per class: candidate bars, production bars beside them when there is one."""
    figure = Figure(figsize=(8, 4))
    axes = figure.subplots()
    width = 0.4 if production is not None else 0.8
    positions = range(len(candidate))
    axes.bar(
        [p - (width / 2 if production is not None else 0) for p in positions],
        candidate,
        width,
        label="candidate",
    )
    if production is not None:
        axes.bar([p + width / 2 for p in positions], production, width, label="production")
    axes.set_xticks(list(positions), labels)
    axes.set_ylim(axis_floor(list(candidate) + list(production or [])), 1.0)
    axes.set_xlabel("class")
    axes.set_ylabel("accuracy")
    axes.legend()
    figure.suptitle("Accuracy per class")
    return _save(figure, path)


PICTURE_COLUMNS = 8


def regressions_png(regressions: dict[str, Any], path: Path) -> Path:
    """The digits production got right and the candidate gets wrong (gate_regressions.json), with both answers."""
    digits = regressions["digits"]
    rows = math.ceil(len(digits) / PICTURE_COLUMNS)
    figure = Figure(figsize=(PICTURE_COLUMNS * 1.3, rows * 1.5 + 0.6))
    grid = figure.subplots(rows, PICTURE_COLUMNS, squeeze=False)
    for axes in grid.flat:
        axes.axis("off")
    for axes, digit in zip(grid.flat, digits, strict=False):
        shape = regressions.get("shape", MNIST.input_shape)
        image = np.frombuffer(base64.b64decode(digit["pixels"]), dtype=np.uint8).reshape(shape)
        axes.imshow(image, cmap="gray_r", vmin=0, vmax=255)
        axes.set_title(f"{digit['label']}: now {digit['candidate']}", fontsize=9)
    shown = f"{len(digits)} of {regressions['total']}" if regressions["total"] > len(digits) else "all"
    figure.suptitle(f"Production right, candidate wrong ({shown}): true digit, candidate's answer")
    return _save(figure, path)
