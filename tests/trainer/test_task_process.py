"""The trainer process's own start and end: TensorFlow and Keras imported without the optional modules the
trainer never uses, and an exit that runs the atexit handlers and flushes the output before it skips teardown."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.vertex_local_server import REPO_ROOT
from trainer.task import modules_hidden


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def test_a_hidden_module_cannot_be_imported_in_the_block_and_can_after_it(tmp_path: Path, monkeypatch):
    (tmp_path / "optional_extra.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "optional_extra", raising=False)
    with modules_hidden(["optional_extra", "sys"]):
        with pytest.raises(ImportError):
            import optional_extra
        assert sys.modules["sys"] is sys  # one already imported stays as it is
    import optional_extra

    assert optional_extra.VALUE == 42 and "sys" in sys.modules


@pytest.mark.slow  # imports TensorFlow in a fresh interpreter
def test_tensorflow_and_keras_come_without_scikit_learn_matplotlib_or_pandas():
    done = run_python("""
        import sys
        from trainer.task import KERAS_OPTIONAL_MODULES, import_tensorflow_and_keras
        import_tensorflow_and_keras(False)
        print("loaded:", [name for name in KERAS_OPTIONAL_MODULES if name in sys.modules])
        import keras
        keras.layers.Dense(2)(keras.ops.ones((1, 3)))
        from sklearn.datasets import load_wine  # the wine task's data still loads
        print("wine rows:", len(load_wine().data))
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["loaded: []", "wine rows: 178"]


def test_exit_now_runs_the_atexit_handlers_flushes_and_keeps_the_status():
    done = run_python("""
        import atexit
        from trainer.task import exit_now
        atexit.register(print, "the handler ran")
        print("printed, still in the buffer,", end=" ")
        exit_now(3)
    """)
    assert done.returncode == 3, done.stderr[-2000:]
    assert done.stdout == "printed, still in the buffer, the handler ran\n"
