"""The floor under any server: python -m benchmarks.serve_floor MODEL_DIR BODIES BODIES64 [--tf-threads N]

Times, in this process and with nothing in the way, what every predict request must do at the least:
call the SavedModel's `serving_default` (1 image, a batch of 64) and parse a JSON body: the first line
of BODIES (1-image bodies, one per line) and of BODIES64 (64-image bodies). Prints one JSON object: p50
milliseconds, and the model's probabilities for every 1-image body's digit, which the servers' answers
are checked against. Run by benchmarks.bench_serve in its own process, so each TF thread setting gets
a fresh TF.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

from pipeline_config import load_config
from vertex_local.serving.instances import InstancesParser

CALLS = 2000  # per figure: enough for a steady median, about a second each


def p50_ms(call: Callable[[], object], calls: int = CALLS) -> float:
    """The median wall time of `call`, in milliseconds, after a few warm-up calls."""
    for _ in range(20):
        call()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return round(float(np.median(times)) * 1000, 4)


def model_floor(model_dir: Path, images: np.ndarray, tf_threads: int | None) -> tuple[dict, np.ndarray]:
    """p50 of serving_default on 1 image and on 64, and its probabilities for all `images`."""
    import tensorflow as tf

    if tf_threads:
        tf.config.threading.set_intra_op_parallelism_threads(tf_threads)
        tf.config.threading.set_inter_op_parallelism_threads(tf_threads)
    serve = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    one = tf.constant(images[:1])
    batch = tf.constant(np.resize(images, (64, *images.shape[1:])))
    figures = {
        "model_1_ms": p50_ms(lambda: serve(image=one)["probabilities"].numpy()),
        "model_64_ms": p50_ms(lambda: serve(image=batch)["probabilities"].numpy(), CALLS // 4),
    }
    return figures, serve(image=tf.constant(images))["probabilities"].numpy()


def parse_floor(body: bytes, body64: bytes) -> dict[str, float]:
    parse_instances = InstancesParser(load_config(None).serving).parse
    return {
        "json_stdlib_ms": p50_ms(lambda: json.loads(body)),
        "json_orjson_ms": p50_ms(lambda: orjson.loads(body)),
        "parse_instances_ms": p50_ms(lambda: parse_instances(body)),  # to a checked float32 array
        # the plain way to an array: orjson, then numpy walks the nested lists
        "parse64_orjson_numpy_ms": p50_ms(lambda: np.asarray(orjson.loads(body64)["instances"]), CALLS // 10),
        "parse64_instances_ms": p50_ms(lambda: parse_instances(body64), CALLS // 10),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("bodies_file", type=Path, help="1-image predict bodies, one per line")
    parser.add_argument("bodies64_file", type=Path, help="64-image predict bodies, one per line")
    parser.add_argument("--tf-threads", type=int, default=None, help="intra- and inter-op threads (default: TF's)")
    args = parser.parse_args(argv)
    bodies = args.bodies_file.read_bytes().splitlines()
    images = np.asarray([json.loads(body)["instances"][0] for body in bodies], np.float32)
    figures, probabilities = model_floor(args.model_dir, images, args.tf_threads)
    body64 = args.bodies64_file.read_bytes().splitlines()[0]
    json.dump({**figures, **parse_floor(bodies[0], body64), "probabilities": probabilities.tolist()}, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
