"""scripts/demo.py's output keeps to the project's lines: the gate's SavedModel loads print no TensorFlow C++ lines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from native_logs import NATIVE_LINE
from tests.support.training import untrained_baseline_once

REPO = Path(__file__).resolve().parents[2]


def python(code: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter: TensorFlow's first import, and what it logs to file descriptor 2, are per process."""
    # Without TF_CPP_MIN_LOG_LEVEL: a test that ran the demo in this worker (quiet_tensorflow) left it at 3 here.
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True, text=True,
                          timeout=180, env=env)  # fmt: skip


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The untrained baseline exported by another interpreter, once per run (test_native_logs loads it too)."""
    return untrained_baseline_once(tmp_path_factory)


# A line TensorFlow's C++ logger prints on every machine, through absl as all its lines (what loading a model logs
# varies with the CPU: port.cc's oneDNN notice on some, cpu_feature_guard.cc on others, nothing on a third).
PROVOKED = "provoked by the test"


# What the main thread writes to file descriptor 2 while TensorFlow is imported in the background.
OWN_LINE = "demo: a line of the demo's own on stderr"


@pytest.mark.parametrize("how", ["meanwhile", "quiet", "plain"])
def test_the_gates_model_load_in_the_demo_prints_no_tensorflow_lines(saved_model: Path, how: str) -> None:
    loaded = python(f"""
        import os, sys
        from pathlib import Path
        from scripts import demo
        from scripts.comparison import savedmodel
        if {how!r} == "meanwhile":  # what the demo does: the import runs while the job trains
            importing = demo.TensorFlowMeanwhile()
            importing.start("the job")
            os.write(2, {OWN_LINE!r}.encode() + b"\\n")
            importing.wait()
            assert "tensorflow" in sys.modules, "the thread did not import TensorFlow"
        if {how!r} != "plain":
            demo.quiet_tensorflow()  # what the demo does before its gate phase
        model = savedmodel.load("candidate", {str(saved_model)!r}, Path("."), None)
        print(model.parameters)
        import tensorflow as tf
        tf.raw_ops.PrintV2(input="{PROVOKED}", output_stream="log(warning)")
    """)
    assert loaded.returncode == 0, loaded.stderr
    assert int(loaded.stdout) > 0
    native = [line for line in loaded.stderr.splitlines() if re.match(NATIVE_LINE, line)]
    if how == "meanwhile":  # the filter that stood in for stderr during the import passed the demo's own line
        assert OWN_LINE in loaded.stderr.splitlines(), loaded.stderr
    if how != "plain":
        assert native == [], loaded.stderr
    else:  # without it TensorFlow's lines are shown: the quiet case is real work, not an accident
        assert [line for line in native if line.endswith(f"] {PROVOKED}")], loaded.stderr
