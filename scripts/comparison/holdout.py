"""The candidate's test split, rebuilt from its metrics.json and checked against the fingerprint it records.

The gate evaluates production and the candidate on exactly these examples: the task's load_data (tasks/) with
the candidate's dataset and seed (an .npz on gs:// is fetched through scripts.core.cloud, as every other object), and
the sha256 of the preprocessed arrays must equal metrics.json's test_fingerprint, else the gate fails closed.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np
from google.cloud import storage

from scripts.core import cloud
from scripts.core.run_metrics import SplitSpec
from scripts.core.step import StepError
from tasks import Task, TaskError
from tasks.mnist import TASK as MNIST
from trainer.data import DataError, fingerprint


@dataclasses.dataclass(frozen=True)
class TestSplit:
    images: np.ndarray  # float32 [n, *task.input_shape], as the trainer evaluated
    labels: np.ndarray  # int64 [n]
    spec: SplitSpec

    __test__ = False  # not a pytest test class, whatever its name

    def describe(self) -> dict[str, object]:
        """gate.json's test_split block."""
        spec = self.spec
        return {"dataset": spec.dataset, "seed": spec.seed, "digits": len(self.labels), "fingerprint": spec.fingerprint}


def load_split(spec: SplitSpec, client: storage.Client, task: Task = MNIST) -> TestSplit:
    """The test split metrics.json describes; a different fingerprint or an unreadable dataset: StepError."""
    try:
        if spec.dataset in task.datasets:
            _, (images, labels) = task.load_data(spec.dataset, spec.seed, None)
        elif spec.dataset.startswith("gs://"):
            with tempfile.TemporaryDirectory(prefix="gate-data-") as scratch:
                local = Path(scratch) / "data.npz"
                local.write_bytes(cloud.read_bytes(spec.dataset, client))
                _, (images, labels) = task.load_data(spec.dataset, spec.seed, str(local))
        else:
            _, (images, labels) = task.load_data(spec.dataset, spec.seed, spec.dataset)
    except (DataError, TaskError) as exc:
        raise StepError(f"cannot rebuild the candidate's test split: {exc}") from None
    found = fingerprint(images, labels)
    if found != spec.fingerprint:
        raise StepError(
            f"the test split rebuilt from {spec.dataset} (seed {spec.seed}) has fingerprint {found}, "
            f"but the candidate's metrics.json records {spec.fingerprint}: not the digits it was evaluated on"
        )
    return TestSplit(images, labels, spec)
