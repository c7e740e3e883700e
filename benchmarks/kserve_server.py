"""KServe's Python model server on our SavedModel, run from its own venv: python benchmarks/kserve_server.py

  .venv-kserve/bin/python benchmarks/kserve_server.py --model_dir MODEL_DIR --http_port 8090 --workers 2

The peer benchmarks.bench_serve measures vertex-local against (`make bench-serve` installs .venv-kserve).
KServe's V1 protocol takes Vertex's `{"instances": [...]}` body unchanged at /v1/models/mnist:predict.
Its best fair settings on 2 cores: 2 uvicorn workers, TF threaded in each as vertex-local threads it,
no gRPC server and no per-request latency log line (uvicorn's access log stays on, as vertex-local's does).
The model is KServe's documented custom-model shape: a synchronous predict on the request's instances.
Imports nothing from this repository: it runs under KServe's own interpreter and dependencies.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
from typing import Any

import kserve
import numpy as np
from kserve.protocol.rest.multiprocess.server import RESTServerProcess

MODEL_NAME = "mnist"
# KServe's parent pings each worker and kills one that misses a 5 s answer. A spawned worker unpickles this
# model first (importing TensorFlow and loading the SavedModel: 5-20 s on a busy 2-core machine) and only
# then starts answering pings, so with the stock timeout the workers are killed and respawned forever.
WORKER_PING_TIMEOUT_S = 120.0
# TF's threads per op and between ops in each worker, as vertex-local sets them. Measured side by side on
# this machine, two inter-op threads beat one at every load (1 connection +14 %, 32 +20 %, 64-image bodies +6 %).
INTRA_OP_THREADS, INTER_OP_THREADS = 1, 2


class SavedModelPredictor(kserve.Model):
    """The SavedModel's serving_default behind KServe's V1 protocol; loaded again in each worker."""

    def __init__(self, name: str, model_dir: str) -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self.load()

    def load(self) -> bool:
        import tensorflow as tf

        with contextlib.suppress(RuntimeError):  # TF already ran in this process: it keeps its pools
            tf.config.threading.set_intra_op_parallelism_threads(INTRA_OP_THREADS)
            tf.config.threading.set_inter_op_parallelism_threads(INTER_OP_THREADS)
        self.function = tf.saved_model.load(self.model_dir).signatures["serving_default"]
        self.function(image=tf.zeros([1, 28, 28], tf.float32))  # trace once, as vertex-local warms up
        self.ready = True
        print(f"kserve-bench: worker {os.getpid()} loaded {self.model_dir}", flush=True)
        return self.ready

    def predict(self, payload: dict, headers: dict[str, str] | None = None) -> dict[str, Any]:
        images = np.asarray(payload["instances"], dtype=np.float32)
        return {"predictions": self.function(image=images)["probabilities"].numpy().tolist()}

    def __getstate__(self) -> dict[str, Any]:
        # Spawned workers receive the model pickled; TF's function is not picklable, so each worker loads it.
        return {key: value for key, value in self.__dict__.items() if key != "function"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.load()


def main() -> None:
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser], description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", required=True)
    args, _ = parser.parse_known_args()
    RESTServerProcess.is_alive = functools.partialmethod(RESTServerProcess.is_alive, timeout=WORKER_PING_TIMEOUT_S)
    server = kserve.ModelServer(
        http_port=args.http_port, workers=args.workers, enable_grpc=False, enable_latency_logging=False
    )
    server.start([SavedModelPredictor(MODEL_NAME, args.model_dir)])


if __name__ == "__main__":
    main()
