"""native_logs: TensorFlow's C++ log lines dropped, everything else kept in order, a fatal line never lost."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from native_logs import NATIVE_LINE
from tests.support.training import untrained_baseline_once

REPO = Path(__file__).resolve().parent.parent
ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


def python(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter: file descriptor 2 and TensorFlow's first import are per process."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


@pytest.mark.parametrize(
    "line, native",
    [
        (ABSL_NOTICE, True),
        ("I0000 00:00:1795954592.717424   28700 port.cc:153] oneDNN custom operations are on.", True),
        ("E0000 00:00:1795952974.018994   27030 node_def_util.cc:682] NodeDef mentions attribute", True),
        ("W1129 11:50:17.539927   29317 cpu_feature_guard.cc:227] This TensorFlow binary is optimized", True),
        ("F0000 00:00:1.000000 1 cpu_feature_guard.cc:1] compiled to use AVX instructions", False),  # fatal: kept
        ("WARNING:tensorflow:5 out of the last 9 calls triggered tf.function retracing.", False),  # Python's
        ("trainer: epoch 1/20 in 2.9 s: loss 1.9880", False),
        ("Traceback (most recent call last):", False),
    ],
)
def test_only_info_warning_and_error_lines_of_absl_count_as_native(line: str, native: bool):
    assert bool(re.match(NATIVE_LINE, line)) is native


def test_inside_the_block_native_lines_are_dropped_and_the_rest_kept_in_order():
    result = python(f"""
        import os, sys
        from native_logs import hidden_native_logs
        print("before", file=sys.stderr, flush=True)
        with hidden_native_logs():
            os.write(2, b"{ABSL_NOTICE}\\n")
            os.write(2, b"I0000 00:00:1795954592.717424   28700 port.cc:153] oneDNN custom operations are on.\\n")
            print("from python", file=sys.stderr)
            os.write(2, b"E0000 00:00:1.5 7 node_def_util.cc:682] NodeDef mentions attribute\\n")
            os.write(2, b"from C, not a log line\\n")
        os.write(2, b"I0000 00:00:1.5 7 after.cc:1] after the block nothing is filtered\\n")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "before",
        "from python",
        "from C, not a log line",
        "I0000 00:00:1.5 7 after.cc:1] after the block nothing is filtered",
    ]


def test_a_fatal_line_reaches_stderr_even_when_the_process_aborts_inside_the_block():
    result = python("""
        import os
        from native_logs import hidden_native_logs
        with hidden_native_logs():
            os.write(2, b"E0000 00:00:1.5 7 port.cc:1] dropped\\n")
            os.write(2, b"F0000 00:00:1.5 7 cpu_feature_guard.cc:1] built for instructions this CPU lacks\\n")
            os.abort()
    """)
    assert result.returncode < 0  # killed by SIGABRT, as TensorFlow's fatal log does
    assert result.stderr.splitlines() == [
        "F0000 00:00:1.5 7 cpu_feature_guard.cc:1] built for instructions this CPU lacks"
    ]


# TensorFlow's own C++ logger, on every machine: the print op's `log(...)` streams go through absl, as any of its
# C++ lines does (what `import tensorflow` logs varies with the CPU: port.cc's oneDNN notice, cpu_feature_guard.cc).
PROVOKED = "provoked by the test"
PROVOKE_TF_LINES = f"""
for stream in ("log(info)", "log(warning)", "log(error)"):
    tf.raw_ops.PrintV2(input="{PROVOKED} " + stream, output_stream=stream)
"""
# What TensorFlow writes to file descriptor 2 while it is imported, as the import does it on some CPUs; written
# from inside the import by an import hook, so it shows that the import itself runs inside the filter.
DURING_IMPORT = "W0000 00:00:1.5 7 during_import.cc:1] written while tensorflow is imported"
WRITE_DURING_IMPORT = f"""
import importlib.abc, os, sys
class DuringImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow":
            os.write(2, b"{DURING_IMPORT}\\n")
        return None
sys.meta_path.insert(0, DuringImport())
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_importing_tensorflow_prints_nothing_unless_verbose(verbose: bool):
    result = python(
        WRITE_DURING_IMPORT
        + f"""
import os
from native_logs import import_tensorflow
tf = import_tensorflow({verbose}, os.environ)
print(os.environ["TF_CPP_MIN_LOG_LEVEL"], tf.constant(2) * 3)
from keras.src.trainers.data_adapters import array_slicing
print("keras takes dataframes:", array_slicing.pandas is not None)  # the trainer's import keeps Keras whole
"""
        + PROVOKE_TF_LINES
    )
    assert result.returncode == 0, result.stderr
    native = [line for line in result.stderr.splitlines() if re.match(NATIVE_LINE, line)]
    if verbose:  # TensorFlow's lines are shown: hiding them is real work, not an accident
        assert DURING_IMPORT in native, result.stderr
        for stream in ("log(info)", "log(warning)", "log(error)"):
            assert any(line.endswith(f"] {PROVOKED} {stream}") for line in native), result.stderr
        assert result.stdout.startswith("0 ")
    else:
        assert result.stderr == ""
        assert result.stdout.startswith("3 ")
    assert "keras takes dataframes: True" in result.stdout


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The untrained baseline exported by another interpreter, once per run (test_demo_quiet loads it too)."""
    return untrained_baseline_once(tmp_path_factory)


def test_vertex_locals_first_model_load_keeps_tensorflows_lines_out_of_the_server_log(model_dir: Path):
    loaded = python(f"""
        import sys
        from pathlib import Path
        from native_logs import KERAS_EXTRAS
        from vertex_local.serving.model_server import load_saved_model
        print(sorted(load_saved_model(Path({str(model_dir)!r})).function.structured_outputs))
        print("imported with it:", [name for name in KERAS_EXTRAS if name in sys.modules])
        import pandas  # left out of Keras' import only: it imports as usual after
        print("then:", pandas.DataFrame({{"x": [1]}}).shape)
    """)
    assert loaded.returncode == 0, loaded.stderr
    # The server's TensorFlow comes without Keras' scikit-learn, pandas and matplotlib integrations (1.2 s of CPU)
    assert loaded.stdout.splitlines() == ["['probabilities']", "imported with it: []", "then: (1, 1)"]
    assert not [line for line in loaded.stderr.splitlines() if re.match(NATIVE_LINE, line)], loaded.stderr
