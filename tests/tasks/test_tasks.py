"""Issue 21: the task contract (tasks/): the registry, what an incomplete or unknown task does, and each task's
input and output as the pipeline reads them."""

from __future__ import annotations

import dataclasses
import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tasks
from pipeline_config import ConfigError, load_config, load_task_of
from tasks import REGISTRY, Task, TaskError, load_task

REPO_ROOT = Path(__file__).resolve().parents[2]

# The steps that read the task, the demo and the trainer; with the flags each needs to get as far as its config.
ENTRY_POINTS = {"scripts.submit_training": [], "scripts.gate": [], "scripts.deploy": ["--version", "1"],
                "scripts.smoke_test": [], "scripts.demo": [], "trainer.task": []}  # fmt: skip


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_task_loads_and_states_a_consistent_contract(name: str) -> None:
    task = load_task(name)
    assert task.name == name and task.num_classes >= 2 and task.resolve_dataset("sample") == task.sample_dataset
    x, y = task.samples(5)
    assert x.shape == (5, *task.input_shape) and x.dtype == np.float32 and set(y) <= set(range(task.num_classes))
    assert np.array_equal(task.from_instances(task.instances(x)), x)  # JSON instances and back, exactly


def test_the_tasks_differ_in_input_shape_and_class_count() -> None:
    mnist, wine = load_task("mnist"), load_task("wine")
    assert (mnist.input_shape, mnist.num_classes) == ((28, 28), 10)
    assert (wine.input_shape, wine.num_classes) == ((13,), 3)


def test_an_instance_of_the_wrong_shape_is_refused_naming_the_expected_shape() -> None:
    with pytest.raises(TaskError, match=r"shape \[1, 28, 28\], expected \[n, 13\] for task 'wine'"):
        load_task("wine").from_instances([[[0.5] * 28] * 28])
    with pytest.raises(TaskError, match=r"values must lie in \[0.0, 1.0\]"):
        load_task("mnist").from_instances([[[255.0] * 28] * 28])
    with pytest.raises(TaskError, match=r"numbers shaped \[n, 13\]"):
        load_task("wine").from_instances([["a"] * 13, [1.0]])


def test_an_unknown_task_name_is_a_config_error_listing_the_tasks() -> None:
    with pytest.raises(ConfigError, match=r"^task.name = 'cifar': unknown task \(tasks: mnist, wine\)$"):
        load_config("local", {"PIPELINE_TASK_NAME": "cifar"})


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_every_entry_point_stops_on_an_unknown_task_with_one_line(
    module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In-process, as scripts.demo runs the steps: the step's main() with PIPELINE_TASK_NAME naming no task."""
    for name in [key for key in os.environ if key.startswith("PIPELINE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PIPELINE_TASK_NAME", "cifar")
    where = ["--model-dir", str(tmp_path)] if module == "trainer.task" else ["--out-dir", str(tmp_path)]
    status = importlib.import_module(module).main([*where, *ENTRY_POINTS[module]])
    assert status in (1, 2)
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(errors) == 1 and "unknown task (tasks: mnist, wine)" in errors[0]


def write_task_module(folder: Path, name: str, body: str) -> None:
    (folder / f"{name}.py").write_text(textwrap.dedent(body))


@pytest.fixture
def broken_tasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("no_labels", "empty_labels", "no_task"):
        monkeypatch.setitem(tasks.REGISTRY, name, f"h21_{name}")
    return tmp_path


def test_an_incomplete_task_module_fails_at_load_naming_the_missing_piece(broken_tasks: Path) -> None:
    common = """
        from tasks import Task
        from tasks.mnist import load_data, build_model
        TASK = Task(name="{name}", item="x", input_name="x", input_shape=(2,), value_range=None,
                    output_name="p", {labels} datasets=("d",), sample_dataset="d", load_data=load_data,
                    build_model=build_model, models=("m",))
    """
    write_task_module(broken_tasks, "h21_no_labels", common.format(name="no_labels", labels=""))
    write_task_module(broken_tasks, "h21_empty_labels", common.format(name="empty_labels", labels="labels=(),"))
    write_task_module(broken_tasks, "h21_no_task", "VALUE = 1\n")
    with pytest.raises(TaskError, match=r"h21_no_labels: incomplete task: .*missing 1 required .*'labels'"):
        load_task("no_labels")
    with pytest.raises(TaskError, match=r"h21_empty_labels: task 'empty_labels' is missing labels"):
        load_task("empty_labels")
    with pytest.raises(TaskError, match=r"h21_no_task: defines no TASK = tasks.Task\(...\)"):
        load_task("no_task")


def test_a_step_stops_on_an_incomplete_task_with_the_missing_piece(broken_tasks: Path) -> None:
    write_task_module(broken_tasks, "h21_no_task", "VALUE = 1\n")
    config = load_config("local", {"PIPELINE_TASK_NAME": "no_task"})
    with pytest.raises(ConfigError, match=r"task.name = 'no_task': h21_no_task: defines no TASK"):
        load_task_of(config)


def test_the_dataset_and_model_keywords_follow_the_task() -> None:
    mnist, wine = load_task("mnist"), load_task("wine")
    assert (mnist.resolve_dataset("full"), mnist.resolve_dataset("sample")) == ("mnist", "mnist-sample")
    assert (wine.resolve_dataset("full"), wine.resolve_model("default")) == ("wine", "mlp")
    with pytest.raises(TaskError, match=r"task 'wine' has no model 'cnn' \(choose from mlp\)"):
        wine.resolve_model("cnn")


def test_the_built_in_tasks_train_without_keras_integrations_and_a_users_task_keeps_them() -> None:
    assert [load_task(name).keras_extras for name in sorted(REGISTRY)] == [False, False]
    assert {field.name: field.default for field in dataclasses.fields(Task)}["keras_extras"] is True  # the default
    code = """
        import sys
        from native_logs import KERAS_EXTRAS
        from tasks import load_task
        from trainer.task import import_frameworks
        import_frameworks(load_task("mnist"), verbose=False)
        from keras.src.trainers.data_adapters import array_slicing
        print([name for name in KERAS_EXTRAS if name in sys.modules], array_slicing.pandas is None)
    """  # a fresh interpreter: what a training job's process imports
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] True"  # 1.2-1.4 s of CPU less a job; a user's task gets Keras whole
