"""Train, evaluate and export the MNIST model: python -m trainer.task [--dataset mnist-sample] [--model cnn].

Defaults come from pipeline.toml's [training] table (and PIPELINE_TRAINING_* variables); flags win.
Output goes to $AIP_MODEL_DIR when Vertex sets it, else --model-dir: a SavedModel and metrics.json beside it.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from trainer.config import ConfigError, load_config
from trainer.data import DATASETS, DataError, fingerprint, load_dataset
from trainer.distribute import cluster_from_tf_config, is_chief, make_strategy, strategy_kind
from trainer.model import BASELINE_HYPERPARAMETERS, MODELS

HYPERPARAMETERS = ("epochs", "batch_size", "learning_rate", "seed")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainer.task", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=DATASETS, help="default: [training] dataset of the profile")
    parser.add_argument("--data-path", help="an .npz in Keras' layout, local or gs:// (overrides --dataset)")
    parser.add_argument("--model", choices=MODELS, help="default: [training] model")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--no-augment", dest="augment", action="store_false", help="cnn: no shifts or rotations")
    parser.add_argument("--model-dir", default="runs/local/model", help="used when $AIP_MODEL_DIR is not set")
    parser.add_argument("--git-sha", help="recorded in metrics.json (default: $GIT_SHA)")
    parser.add_argument("--profile", help="pipeline.toml profile (default: $PIPELINE_PROFILE or local)")
    return parser


def resolve_settings(args: argparse.Namespace, environ: dict[str, str]) -> dict[str, Any]:
    """Flags over the model's own defaults (baseline) over pipeline.toml; the output dir from Vertex wins."""
    training = load_config(args.profile, environ).training
    model = args.model or training.model
    defaults = {name: getattr(training, name) for name in HYPERPARAMETERS}
    if model == "baseline":
        defaults.update(BASELINE_HYPERPARAMETERS)
    flags = {name: getattr(args, name) for name in HYPERPARAMETERS if getattr(args, name) is not None}
    hyper = {**defaults, **flags}
    if hyper["epochs"] < 1 or hyper["batch_size"] < 1 or hyper["learning_rate"] <= 0:
        raise ConfigError(f"epochs and batch size must be >= 1 and the learning rate > 0 (got {hyper})")
    return {
        "dataset": args.dataset or training.dataset,
        "data_path": args.data_path,
        "model": model,
        "augment": args.augment and model == "cnn",
        "hyperparameters": hyper,
        "model_dir": environ.get("AIP_MODEL_DIR") or args.model_dir,
        "git_sha": args.git_sha or environ.get("GIT_SHA") or None,
    }


def train(settings: dict[str, Any], tf_config: dict[str, Any]) -> dict[str, Any]:
    """Fit, evaluate and export; returns metrics.json's content. Only the chief writes to model_dir."""
    import keras
    import tensorflow as tf

    from trainer.export import evaluation, export_saved_model, history_rows, write_metrics
    from trainer.loop import cross_entropy, fit_distributed
    from trainer.model import augmenter, build_model

    hyper = settings["hyperparameters"]
    keras.utils.set_random_seed(hyper["seed"])
    tf.config.experimental.enable_op_determinism()  # same seed, same machine -> same metrics
    (x_train, y_train), (x_test, y_test) = load_dataset(settings["dataset"], hyper["seed"], settings["data_path"])

    kind = strategy_kind(tf_config, len(tf.config.list_physical_devices("GPU")))
    strategy = make_strategy(kind)
    global_batch = hyper["batch_size"] * strategy.num_replicas_in_sync
    steps_per_epoch = -(-len(x_train) // global_batch)
    train_ds = tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(len(x_train), seed=hyper["seed"])
    train_ds = train_ds.batch(global_batch)
    if settings["augment"]:
        augment = augmenter(hyper["seed"])
        train_ds = train_ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    with strategy.scope():
        model = build_model(settings["model"], hyper["learning_rate"], steps_per_epoch * hyper["epochs"])

    started = time.perf_counter()
    if kind == "default":
        fitted = model.fit(
            train_ds.prefetch(tf.data.AUTOTUNE),
            epochs=hyper["epochs"],
            validation_data=(x_test, y_test),
            shuffle=False,
            verbose=1 if sys.stdout.isatty() else 2,  # progress bars on a terminal, one line per epoch in CI logs
        )
        history = fitted.history
    else:
        history = fit_distributed(model, strategy, train_ds, (x_test, y_test), hyper["epochs"], global_batch)
    wall_time = time.perf_counter() - started
    probabilities = model.predict(x_test, batch_size=1024, verbose=0)
    loss = cross_entropy(probabilities, y_test)

    chief = is_chief(tf_config)
    # Every worker must take part in saving under MultiWorkerMirroredStrategy; non-chiefs write to local scratch.
    model_dir = settings["model_dir"] if chief else tempfile.mkdtemp(prefix="worker-export-")
    export_saved_model(model, model_dir)
    metrics = {
        "schema_version": 1,
        "model": settings["model"],
        "dataset": settings["data_path"] or settings["dataset"],
        **evaluation(probabilities, y_test),
        "loss": float(loss),
        "train_examples": len(x_train),
        "test_examples": len(x_test),
        "data_fingerprint": fingerprint(x_train, y_train),
        "hyperparameters": {**hyper, "augment": settings["augment"]},
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "python": platform.python_version()},
        "git_sha": settings["git_sha"],
        "wall_time_s": round(wall_time, 3),
        "history": history_rows(history),
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "created_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if chief:
        write_metrics(metrics, model_dir)
    else:
        tf.io.gfile.rmtree(model_dir)
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    environ = dict(os.environ)
    try:
        settings = resolve_settings(args, environ)
        tf_config = cluster_from_tf_config(environ.get("TF_CONFIG"))
        print(f"trainer: {settings}", flush=True)
        metrics = train(settings, tf_config)
    except (ConfigError, DataError, ValueError) as exc:
        print(f"trainer: error: {exc}", file=sys.stderr)
        return 1
    print(
        f"trainer: {metrics['model']} on {metrics['dataset']}: accuracy {metrics['accuracy']:.4f}, "
        f"loss {metrics['loss']:.4f}, {metrics['wall_time_s']:.1f} s -> {settings['model_dir']}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
