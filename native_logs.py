"""TensorFlow's C++ log lines (`I0000 ... port.cc:153] oneDNN custom operations are on ...`) kept out of our output.

Users read an `E0000 ...` line as an error, and none of these lines is ours. TensorFlow 2.21 logs through absl,
and what `import tensorflow` logs comes before TF_CPP_MIN_LOG_LEVEL is read, so the variable alone cannot hide
it (tensorflow/tensorflow#100442). The trainer and vertex-local's model loading both import TensorFlow inside
`hidden_native_logs()`, with the variable at 3 for what TensorFlow logs afterwards; their --verbose shows it all.

The filter is a separate small process reading a pipe that stands in for file descriptor 2 while TensorFlow is
imported: should the import abort (TensorFlow's `F` line for a CPU without the instructions it was built for),
the filter still passes that line on, since only I/W/E lines are dropped.

The import also runs with the cyclic garbage collector paused (collector_paused): TensorFlow's import makes
hundreds of thousands of objects that live as long as the process, and the growing heap sets off full collections
that walk them all and free next to nothing. Processes that run no Keras code import it with Keras'
optional integrations left out (keras_extras_hidden).
"""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, MutableMapping
from types import ModuleType

# What Keras imports at its own import, when installed, for optional integrations: scikit-learn (its wrappers),
# pandas (DataFrames in fit) and matplotlib (keras.visualization). TensorFlow imports Keras eagerly, so they cost
# every process that imports TensorFlow 1.2-1.4 s of CPU, a third of the import.
KERAS_EXTRAS = ("sklearn", "pandas", "matplotlib")
QUIET_LEVEL = "3"  # TF_CPP_MIN_LOG_LEVEL: 0 shows everything, 3 only FATAL
# One absl/glog line: severity (Info, Warning, Error; never Fatal), MMDD, time (before absl is initialised it
# reads `0000 00:00:<epoch seconds>`), thread, file:line]; or absl's notice that it logs to stderr until then.
NATIVE_LINE = (
    r"^([IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR\s*$)"
)
# File descriptor 2 is the process's: one thread at a time stands a pipe in for it (re-entrant: a nested block's
# filter writes into the outer one's pipe).
REDIRECTING = threading.RLock()
# Run as `python -I -S -c FILTER PATTERN`: stdin lines not matching PATTERN go to stdout, unbuffered.
FILTER = (
    "import re, sys\n"
    "native = re.compile(sys.argv[1].encode())\n"
    "for line in sys.stdin.buffer:\n"
    "    if not native.match(line):\n"
    "        sys.stdout.buffer.write(line)\n"
    "        sys.stdout.buffer.flush()\n"
)


def import_tensorflow(verbose: bool, environ: MutableMapping[str, str], keras_extras: bool = True) -> ModuleType:
    """TensorFlow, imported with its C++ logging at FATAL only from then on and its import's lines hidden;
    everything shown when verbose. Call it before anything imports TensorFlow (Keras does). keras_extras=False:
    without Keras' optional integrations (keras_extras_hidden), for a process that runs no code that uses them."""
    environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if verbose else QUIET_LEVEL
    with hidden_native_logs(hide=not verbose), collector_paused(), keras_extras_hidden(hide=not keras_extras):
        import tensorflow
    return tensorflow


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while the block imports, and everything alive frozen afterwards.

    Importing TensorFlow, Keras or the Google SDKs creates hundreds of thousands of objects that live as long as
    the process; the growing heap sets off full collections that walk all of them and free next to nothing (in a
    second `make demo`: 8 full collections, 4.0 s of CPU, 89 objects freed). Frozen, later collections walk only
    what is created after. Nested blocks leave the collector to the outermost one. Nothing else changes: code run
    after the block has the collector as it was, and objects frozen are still freed when no longer referenced
    (only cycles among them are not collected)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


@contextlib.contextmanager
def first_tensorflow_import(keras_extras: bool = False) -> Iterator[None]:
    """Around a lazy `import tensorflow` that may run more than once in a process: the first time, the collector
    paused (collector_paused) and Keras' integrations left out unless keras_extras (keras_extras_hidden); once
    TensorFlow is imported, nothing: a freeze then would take the models loaded since with it, for good."""
    if "tensorflow" in sys.modules:
        yield
        return
    with collector_paused(), keras_extras_hidden(hide=not keras_extras):
        yield


@contextlib.contextmanager
def keras_extras_hidden(hide: bool = True) -> Iterator[None]:
    """Within the block (when `hide`), those of KERAS_EXTRAS not imported yet cannot be imported, so TensorFlow's
    first import (and the Keras it imports) leaves Keras' integrations with them out. For processes that run no
    Keras code: vertex-local (its serving container and batch worker too), and the trainer, the gate and the demo
    for a task that says so (Task.keras_extras; a user's task has them by default). After the block each imports
    as usual; only modules that looked for them inside it go on without them. Nothing else may import them
    meanwhile."""
    # Once TensorFlow (and Keras with it) is imported, nothing is left to leave out.
    hidden = [] if not hide or "tensorflow" in sys.modules else [n for n in KERAS_EXTRAS if n not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # the import system's "not installed"
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


@contextlib.contextmanager
def hidden_native_logs(hide: bool = True) -> Iterator[None]:
    """Within the block, C++ log lines written to stderr are dropped and everything else passes, in order."""
    if not hide:
        yield
        return
    with REDIRECTING, _filtered_stderr():
        yield


@contextlib.contextmanager
def _filtered_stderr() -> Iterator[None]:
    """File descriptor 2 is a pipe to the filter process until the block ends, then the filter is waited for."""
    sys.stderr.flush()
    stderr_copy = os.dup(2)
    read_end, write_end = os.pipe()
    try:
        # Popen closes every other descriptor in the child, so the filter holds no write end of its own pipe.
        helper = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", FILTER, NATIVE_LINE], stdin=read_end, stdout=stderr_copy
        )
        os.dup2(write_end, 2)
    except OSError:
        os.close(stderr_copy)
        raise
    finally:
        os.close(read_end)
        os.close(write_end)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(stderr_copy, 2)  # closes the pipe's last write end: the filter reads to the end and exits
        os.close(stderr_copy)
        helper.wait()
