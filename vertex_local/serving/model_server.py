"""The loaded models: TF SavedModels by deployed model id, each behind its own dynamic batcher.

Each deployed model gets a Batcher (serving/batching.py), as TF Serving batches. The SavedModel's
concrete `serving_default` runs in a worker thread, so the event loop does not wait on TF; only a lone
request of a few images runs on the loop, where its call is cheaper than the hand-offs (see batching.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import gc
import itertools
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from native_logs import first_tensorflow_import, hidden_native_logs
from pipeline_config import Serving
from tasks.mnist import TASK as MNIST
from vertex_local.errors import ApiError
from vertex_local.serving.batching import Batcher, BatchStats


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """A model's one input, as its serving_default signature declares it: key and shape of one instance."""

    name: str
    shape: tuple[int, ...]

    def batch_text(self) -> str:
        return "[None, " + ", ".join(str(side) for side in self.shape) + "]"


# What a body is parsed as when no model says otherwise (the tests' bodies): the default task's input.
DEFAULT_INPUT = InputSpec(MNIST.input_name, MNIST.input_shape)
# TF threads per op: on the 2-core machines vertex-local runs on, splitting one op costs more than it wins
# for small batches (one image: 0.44 ms with 1 thread, 0.92 ms with the default).
TF_INTRA_OP_THREADS = 1
# Batches in worker threads at once, and TF's threads between ops: TF runs every op of every call on its
# inter-op threads, so with one of them two concurrent calls take turns; with two, two full batches compute
# on both cores at once (serving/batching.py starts a second one only when it is full).
PREDICT_THREADS = 2


@dataclasses.dataclass
class LoadedModel:
    model_dir: Path
    saved_model: Any  # kept alive: the concrete function needs the variables it tracks
    function: Any
    input: InputSpec
    output_name: str
    run: Callable[[np.ndarray], np.ndarray]  # float32 images -> probabilities: signature_caller's choice


class ModelServer:
    """Loaded models by deployed model id, each with its own batcher; one object, no globals."""

    def __init__(self, limits: Serving) -> None:
        self.limits = limits
        self._models: dict[str, LoadedModel] = {}
        self._batchers: dict[str, Batcher] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    def load(self, deployed_model_id: str, model_dir: Path) -> None:
        """Load and warm up a SavedModel; blocking (seconds), so call it off the event loop."""
        loaded = load_saved_model(Path(model_dir))
        loaded.function(**{loaded.input.name: np.zeros((1, *loaded.input.shape), np.float32)})  # trace, allocate once
        self.unload(deployed_model_id)
        self._models[deployed_model_id] = loaded
        settle_heap()

    def unload(self, deployed_model_id: str) -> None:
        """Forget a model; requests still waiting for it fail with 404. Safe from any thread."""
        unloaded = self._models.pop(deployed_model_id, None)
        batcher = self._batchers.pop(deployed_model_id, None)
        if batcher is not None and self._loop is not None and not self._loop.is_closed():
            reason = ApiError(404, f"deployed model {deployed_model_id} was undeployed")
            self._loop.call_soon_threadsafe(batcher.stop, reason)
        if unloaded is not None:
            del unloaded
            settle_heap()  # the model's objects sit in reference cycles: a collection frees them

    def is_loaded(self, deployed_model_id: str) -> bool:
        return deployed_model_id in self._models

    def model_dir_of(self, deployed_model_id: str) -> Path | None:
        loaded = self._models.get(deployed_model_id)
        return loaded.model_dir if loaded is not None else None

    def input_of(self, deployed_model_id: str) -> InputSpec:
        """The loaded model's input, which a predict body is parsed against (the default when not loaded: the
        predict then answers the model's own 404)."""
        loaded = self._models.get(deployed_model_id)
        return loaded.input if loaded is not None else DEFAULT_INPUT

    def batch_stats(self, deployed_model_id: str) -> BatchStats:
        """How many batches, requests and images the model has run since it was loaded."""
        batcher = self._batchers.get(deployed_model_id)
        return batcher.stats if batcher is not None else BatchStats()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._executor = concurrent.futures.ThreadPoolExecutor(PREDICT_THREADS, thread_name_prefix="predict")

    async def close(self) -> None:
        for deployed_model_id in list(self._batchers):
            self._batchers.pop(deployed_model_id).stop(ApiError(503, "vertex-local is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def predict(self, deployed_model_id: str, instances: np.ndarray) -> np.ndarray:
        """Probabilities float32 [n, classes] for instances float32 [n, *input shape], batched with concurrent calls."""
        batcher = self._batchers.get(deployed_model_id) or self._new_batcher(deployed_model_id)
        return await batcher.submit(instances)

    def _new_batcher(self, deployed_model_id: str) -> Batcher:
        loaded = self._models.get(deployed_model_id)
        if loaded is None:
            raise ApiError(404, f"deployed model {deployed_model_id} is not loaded on this server")
        if self._executor is None:
            raise ApiError(503, "the model server is not started")
        batcher = Batcher(deployed_model_id, loaded.run, self._executor, self.limits, PREDICT_THREADS)
        self._batchers[deployed_model_id] = batcher
        return batcher


def settle_heap() -> None:
    """A full collection of what is not frozen: after each load and unload (blocking: call it off the event loop).

    TensorFlow brings about 700,000 tracked objects; a full collection that walked them all held the GIL, and
    the event loop with it, for 0.1-0.6 s (the 32-client p99 once). They are frozen out of the collector's reach
    as TensorFlow is imported (load_saved_model, native_logs.collector_paused), so this walks only the loaded
    models' own objects (4,000-6,500 each) and what requests left: about a millisecond. Models are never
    frozen: an unloaded model's functions and variables sit in reference cycles, and only a collection frees
    them (unfreezing everything for it took 0.3 s an undeploy)."""
    gc.collect()


def call_model(function: Any, input_name: str, output_name: str, images: np.ndarray) -> np.ndarray:
    """One run of the concrete signature function; runs in a worker thread."""
    return function(**{input_name: images})[output_name].numpy()


def signature_caller(function: Any, spec: InputSpec, output_name: str) -> Callable[[np.ndarray], np.ndarray]:
    """call_model without TF's Python layers around the graph call, when it answers the same.

    A signature's __call__ binds its keyword arguments to the structured signature (canonicalize, cast,
    unpack); then ConcreteFunction._call_flat and the restored function's wrapper check distribution
    strategies, gradient tapes and control dependencies, build the call's attributes and pack the outputs
    back into a dict: about 110 us of CPU per call here, a tenth of a 1-image request (docs/serving.md,
    "Third round"). None of it applies to a server: our bodies are already float32 [n, *input shape]
    (instances.py), no tape watches, no strategy is in scope, the signature returns one tensor. So the
    serving path runs the signature's graph function as that chain ends, by execute.quick_execute
    (TFE_Py_Execute) on the eager context, with the call's attributes and captured variables looked up
    once. Not a public API: it is used only when all of it exists and gives bit-for-bit the structured
    call's answer on a probe at load time, else the structured call serves.
    """
    structured = functools.partial(call_model, function, spec.name, output_name)
    direct = graph_call(function)
    if direct is None:
        return structured
    size = 3 * math.prod(spec.shape)  # three distinct instances: rows must not mix or reorder
    probe = np.linspace(-1.0, 1.0, size, dtype=np.float32).reshape(3, *spec.shape)
    try:
        same = np.array_equal(direct(probe), structured(probe))
    except Exception:  # any failure of the private path: the public one serves
        return structured
    return direct if same else structured


def graph_call(function: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """images -> the signature's one output, by TF's eager execute of its graph function; None where this
    TensorFlow lacks a piece of it. The tensor is made from the array without tf.constant's defensive copy:
    nothing writes a parsed body's array after it is handed to the model (instances.py, batching.py)."""
    try:
        from tensorflow.python.eager import context, execute
        from tensorflow.python.framework import dtypes, ops

        graph_function = function._inference_function
        if len(graph_function.function_type.flat_outputs) != 1:
            return None
        name = graph_function.name.decode()
        eager = context.context()
        attrs = tuple(itertools.chain.from_iterable(eager.function_call_options.as_attrs().items()))
        run, tensor, float32 = execute.quick_execute, ops.EagerTensor, dtypes.float32.as_datatype_enum
        captured = list(function.captured_inputs)
    except (ImportError, AttributeError, TypeError):
        return None

    def direct(images: np.ndarray) -> np.ndarray:
        return run(name, 1, [tensor(images, eager.device_name, float32), *captured], attrs, eager)[0].numpy()

    # TF drops a graph function from its context once its ConcreteFunction is collected: whoever holds the
    # runner (a batcher finishing its last batch after an unload) keeps the function, as the bound call did.
    direct.signature = function  # type: ignore[attr-defined]
    return direct


def limit_tf_threads(tf: Any) -> None:
    try:
        tf.config.threading.set_intra_op_parallelism_threads(TF_INTRA_OP_THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(PREDICT_THREADS)
    except RuntimeError:
        pass  # TF already ran something in this process (tests do): it keeps the settings it started with


def load_saved_model(model_dir: Path) -> LoadedModel:
    """Load `serving_default` and check it takes one float32 input [None, *shape] and returns one output."""
    if not (model_dir / "saved_model.pb").is_file():
        raise ValueError(f"{model_dir} holds no saved_model.pb: it is not a TensorFlow SavedModel directory")
    # The C++ lines TF's first import logs (`I0000 ... port.cc:153] oneDNN ...`) stay out of the server log, what
    # the import makes is frozen (settle_heap), and Keras' integrations the server never uses are left out: all
    # only at the first import (first_tensorflow_import).
    first_import = "tensorflow" not in sys.modules
    with hidden_native_logs(hide=first_import), first_tensorflow_import():
        import tensorflow as tf  # lazily: importing TF takes seconds and the server should start at once

    limit_tf_threads(tf)
    try:
        saved_model = tf.saved_model.load(str(model_dir))
    except Exception as exc:  # TF raises many types for a damaged model; all mean "cannot serve this"
        raise ValueError(f"cannot load the SavedModel in {model_dir}: {type(exc).__name__}: {exc}") from exc
    function = saved_model.signatures.get("serving_default")
    if function is None:
        raise ValueError(f"the SavedModel in {model_dir} has no serving_default signature")
    inputs = function.structured_input_signature[1]
    dims = next(iter(inputs.values())).shape.as_list() if len(inputs) == 1 else []
    if len(inputs) != 1 or next(iter(inputs.values())).dtype != tf.float32 or not valid_batch_shape(dims):
        raise ValueError(
            f"serving_default in {model_dir} takes {sorted(inputs)} ({list(inputs.values())}), "
            f"not one float32 input of shape [None, <fixed sizes>] (such as {DEFAULT_INPUT.batch_text()})"
        )
    outputs = sorted(function.structured_outputs)
    if len(outputs) != 1:
        raise ValueError(f"serving_default in {model_dir} returns {outputs}, not one output")
    spec = InputSpec(next(iter(inputs)), tuple(dims[1:]))
    return LoadedModel(model_dir, saved_model, function, spec, outputs[0],
                       signature_caller(function, spec, outputs[0]))  # fmt: skip


def valid_batch_shape(dims: list) -> bool:
    """[None, a, b, ...]: any batch size, then a fixed positive size per axis (at least one axis)."""
    return len(dims) >= 2 and dims[0] is None and all(isinstance(side, int) and side > 0 for side in dims[1:])
