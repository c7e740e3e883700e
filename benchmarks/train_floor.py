"""Where the default model's training time goes, in one process: python -m benchmarks.train_floor --set trainer

Every variant trains the default cnn on mnist-sample's 4,000 training digits, an epoch a round. Rounds interleave
the variants, so the machine's load falls on all of them alike. The floor is the compiled train step (Keras'
train_function, one step per call) on batches already in memory: no tf.data, no augmentation, no validation.
Prints one JSON object: {variant: {images_per_s, cpu_us_per_image}}.
Sets: `trainer` (TensorFlow as trainer.task sets it up: op determinism on), `no-determinism` (XLA needs it off:
Keras turns jit_compile off under op determinism), `one-thread` (one thread per op, one op at a time).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import time
from collections.abc import Callable

from native_logs import import_tensorflow
from trainer.data import Split, load_dataset

SEED = 42
BATCH = 64  # [training] batch_size
Round = Callable[[], int]  # trains once, returns the images it trained on


def floor(train: Split, batch: int = BATCH, jit: bool = False, steps: int | None = None) -> Round:
    """model.train_function on in-memory batches, one step per call: no tf.data, no augmentation, no validation."""
    import tensorflow as tf

    from trainer.model import build_model

    x, y = train
    model = build_model("cnn", 0.002, 10_000)
    model.jit_compile = jit
    batches = [(tf.constant(x[i : i + batch]), tf.constant(y[i : i + batch])) for i in range(0, len(x), batch)]
    batches = batches[:steps]
    model.make_train_function()
    for warm in (batches[0], batches[-1]):  # trace (and compile) both batch shapes before timing
        model.train_function(iter([warm]))

    def one_round() -> int:
        for pair in batches:
            model.train_function(iter([pair]))
        return sum(len(pair[1]) for pair in batches)

    return one_round


def fitted(train: Split, test: Split, augment: str, per_epoch: bool, validation: str) -> Round:
    """model.fit, one epoch per round. augment: none, affine (trainer/inputs.py) or keras-layers (the trainer's
    before it); validation: none, one-batch (Keras' validation_data on one cached batch, the trainer's before
    trainer/loop.py's HeldOutValidation) or arrays (validation_data arrays, 32 a step)."""
    import tensorflow as tf

    from trainer.inputs import training_batches
    from trainer.model import build_model

    batches = training_batches(*train, SEED, BATCH, augment=augment == "affine")
    if augment == "keras-layers":
        layers = previous_augmenter()
        batches = batches.map(lambda images, labels: (layers(images, training=True), labels),
                              num_parallel_calls=tf.data.AUTOTUNE)  # fmt: skip
    one_batch = tf.data.Dataset.from_tensor_slices(test).batch(len(test[0])).cache()
    held_out = {"one-batch": one_batch, "arrays": test}.get(validation)
    steps = -(-len(train[0]) // BATCH)
    model = build_model("cnn", 0.002, 10_000, steps_per_execution=steps if per_epoch else 1)
    model.fit(batches.take(2), epochs=1, verbose=0, shuffle=False, validation_data=held_out)  # trace first

    def one_round() -> int:
        model.fit(batches, epochs=1, verbose=0, shuffle=False, validation_data=held_out)
        return len(train[0])

    return one_round


def trainers_fit(train: Split, test: Split) -> Round:
    """trainer.task's own fit (trainer/loop.py's fit_keras, HeldOutValidation after the epoch), an epoch a round;
    its epoch lines are swallowed."""
    from trainer.inputs import training_batches
    from trainer.loop import HeldOutValidation, fit_keras
    from trainer.model import build_model

    batches = training_batches(*train, SEED, BATCH, augment=True)
    steps = -(-len(train[0]) // BATCH)
    model, validation = build_model("cnn", 0.002, 10_000, steps_per_execution=steps), HeldOutValidation(*test)

    def one_round() -> int:
        with contextlib.redirect_stdout(io.StringIO()):
            fit_keras(model, batches, validation, epochs=1, verbose=False)
        return len(train[0])

    with contextlib.redirect_stdout(io.StringIO()):
        fit_keras(model, batches.take(2), validation, epochs=1, verbose=False)  # trace first
    return one_round


def previous_augmenter(seed: int = SEED):  # -> keras.Sequential
    """The two Keras layers the trainer augmented with before trainer/inputs.py, with the same ranges."""
    import keras

    return keras.Sequential(
        [
            keras.layers.Reshape((28, 28, 1)),
            keras.layers.RandomTranslation(0.08, 0.08, fill_mode="constant", seed=seed),
            keras.layers.RandomRotation(0.04, fill_mode="constant", seed=seed),
            keras.layers.Reshape((28, 28)),
        ]
    )


def variants(name: str, train: Split, test: Split) -> dict[str, Callable[[], Round]]:
    """The set's variants, built lazily (in order, each after the previous one has been built)."""
    if name == "no-determinism":
        return {
            "floor, no op determinism": lambda: floor(train),
            "floor, XLA (jit_compile)": lambda: floor(train, jit=True, steps=8),  # ~10x slower: 8 steps a round
        }
    if name == "one-thread":
        return {"floor, one thread per op": lambda: floor(train)}
    return {
        "floor": lambda: floor(train),
        "floor, batches of 32": lambda: floor(train, batch=32),
        "floor, batches of 128": lambda: floor(train, batch=128),
        "floor, batches of 256": lambda: floor(train, batch=256),
        "fit, tf.data, a step per call": lambda: fitted(train, test, "none", False, "none"),
        "fit, tf.data, an epoch per call": lambda: fitted(train, test, "none", True, "none"),
        "fit, + Keras layers augmentation": lambda: fitted(train, test, "keras-layers", True, "none"),
        "fit, + one-resampling augmentation": lambda: fitted(train, test, "affine", True, "none"),
        "fit, + Keras' validation, 1 batch": lambda: fitted(train, test, "affine", True, "one-batch"),
        "trainer's fit (+ validation, in memory)": lambda: trainers_fit(train, test),
        "previous trainer's fit": lambda: fitted(train, test, "keras-layers", False, "arrays"),
    }


def measure(rounds: dict[str, Round], count: int) -> dict[str, dict[str, float]]:
    """Per variant, over all its rounds: images per second of wall time and CPU microseconds per image (all of
    the process's threads). Totals, not best rounds, so a variant's figure is its average under the same load."""
    images, wall, cpu = dict.fromkeys(rounds, 0), dict.fromkeys(rounds, 0.0), dict.fromkeys(rounds, 0.0)
    for _ in range(count):
        for name, one_round in rounds.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            images[name] += one_round()
            wall[name] += time.perf_counter() - started
            cpu[name] += time.process_time() - cpu_started
    return {
        name: {"images_per_s": images[name] / wall[name], "cpu_us_per_image": cpu[name] / images[name] * 1e6}
        for name in rounds
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_floor", description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("trainer", "no-determinism", "one-thread"), default="trainer")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    tf = import_tensorflow(False, os.environ)
    if args.set == "one-thread":
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    if args.set != "no-determinism":
        tf.config.experimental.enable_op_determinism()
    import keras

    keras.utils.set_random_seed(SEED)
    train, test = load_dataset("mnist-sample", SEED)
    rounds = {name: build() for name, build in variants(args.set, train, test).items()}
    print(json.dumps(measure(rounds, args.rounds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
