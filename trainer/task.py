"""Train, evaluate and export the task's model: python -m trainer.task [--task mnist] [--dataset sample] [--model cnn].

The task (tasks/, pipeline.toml's [task] name) says the data, the models and the input. Defaults come from
pipeline.toml's [training] table (and PIPELINE_TRAINING_* variables); flags win.
Output goes to $AIP_MODEL_DIR when Vertex sets it (a gs:// URI), else --model-dir (a local path or gs://):
a SavedModel and metrics.json beside it, uploaded through google-cloud-storage for gs:// (trainer/storage.py).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import sys
import time
from collections.abc import Sequence
from typing import Any

from native_logs import collector_paused, import_tensorflow
from pipeline_config import ConfigError, chosen_training_keys, load_config, load_task_of
from tasks import REGISTRY, Task, TaskError, load_task
from trainer.data import DataError, Split, fingerprint
from trainer.distribute import cluster_from_tf_config, is_chief, make_strategy, strategy_kind
from trainer.storage import StorageError, check_output_location

HYPERPARAMETERS = ("epochs", "batch_size", "learning_rate", "seed")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainer.task", description=__doc__.splitlines()[0])
    parser.add_argument("--task", help="a registered task (default: [task] name)")
    parser.add_argument("--dataset", help="full, sample or one of the task's datasets (default: [training] dataset)")
    parser.add_argument("--data-path", help="an .npz in Keras' layout, local or gs:// (overrides --dataset)")
    parser.add_argument("--model", help="one of the task's models (default: [training] model)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--no-augment", dest="augment", action="store_false", help="cnn: no shifts or rotations")
    parser.add_argument("--model-dir", default="runs/local/model", help="local or gs://, when no $AIP_MODEL_DIR")
    parser.add_argument("--git-sha", help="recorded in metrics.json (default: $GIT_SHA)")
    parser.add_argument("--profile", help="pipeline.toml profile (default: $PIPELINE_PROFILE or local)")
    parser.add_argument("--verbose", action="store_true", help="TensorFlow's own log lines and Keras' progress")
    return parser


def resolve_settings(args: argparse.Namespace, environ: dict[str, str]) -> dict[str, Any]:
    """Flags over the model's own defaults (the task's) over pipeline.toml; the output dir from Vertex wins."""
    if args.task:
        environ = {**environ, "PIPELINE_TASK_NAME": args.task}
    config = load_config(args.profile, environ)
    task, training = load_task_of(config), config.training
    model = task.resolve_model(args.model or training.model)  # TaskError: main() makes it a usage error
    dataset = task.resolve_dataset(args.dataset or training.dataset)
    configured = {name: getattr(training, name) for name in HYPERPARAMETERS}
    defaults = task.hyperparameters(model, configured, chosen_training_keys(environ))
    flags = {name: getattr(args, name) for name in HYPERPARAMETERS if getattr(args, name) is not None}
    hyper = {**defaults, **flags}
    if hyper["epochs"] < 1 or hyper["batch_size"] < 1 or hyper["learning_rate"] <= 0:
        raise ConfigError(f"epochs and batch size must be >= 1 and the learning rate > 0 (got {hyper})")
    return {
        "task": task.name,
        "dataset": dataset,
        "data_path": args.data_path,
        "model": model,
        "augment": args.augment and model in task.augmented_models,
        "hyperparameters": hyper,
        "model_dir": check_output_location(environ.get("AIP_MODEL_DIR") or args.model_dir),
        "git_sha": args.git_sha or environ.get("GIT_SHA") or None,
        "verbose": args.verbose,
    }


def train(settings: dict[str, Any], tf_config: dict[str, Any], task: Task) -> dict[str, Any]:
    """Fit, evaluate and export; returns metrics.json's content. Only the chief writes to model_dir."""
    import keras
    import tensorflow as tf

    from trainer.export import evaluation, export_saved_model, write_metrics
    from trainer.inputs import training_batches
    from trainer.loop import HeldOutValidation, cross_entropy, fit_distributed, fit_keras, predict
    from trainer.storage import output_dir

    hyper = settings["hyperparameters"]
    keras.utils.set_random_seed(hyper["seed"])
    tf.config.experimental.enable_op_determinism()  # same seed, same machine -> same metrics
    (x_train, y_train), test = task.load_data(settings["dataset"], hyper["seed"], settings["data_path"])
    task.check_batch(x_train, "training data"), task.check_batch(test[0], "test data")

    kind = strategy_kind(tf_config, len(tf.config.list_physical_devices("GPU")))
    strategy = make_strategy(kind)
    global_batch = hyper["batch_size"] * strategy.num_replicas_in_sync
    batches = training_batches(x_train, y_train, hyper["seed"], global_batch, settings["augment"])
    steps_per_epoch = -(-len(x_train) // global_batch)
    with strategy.scope():
        # A whole epoch per call into the compiled loop: no Python between steps.
        model = task.build_model(settings["model"], hyper["learning_rate"], steps_per_epoch * hyper["epochs"],
                                 steps_per_epoch, x_train)  # fmt: skip

    started, validation = time.perf_counter(), None
    if kind == "default":
        validation = HeldOutValidation(*test)
        history = fit_keras(model, batches, validation, hyper["epochs"], settings["verbose"])
    else:
        history = fit_distributed(model, strategy, batches, test, hyper["epochs"], global_batch)
    wall_time = time.perf_counter() - started
    # The evaluation: the last epoch's validation pass when it ran with the final weights, else one more pass.
    probabilities = validation.final_probabilities() if validation is not None else None
    if probabilities is None:
        probabilities = predict(model, test[0])

    metrics = metrics_record(settings, (x_train, y_train), test, history, wall_time, strategy)
    metrics.update(evaluation(probabilities, test[1], task.num_classes), loss=cross_entropy(probabilities, test[1]))
    # Every worker must take part in saving under MultiWorkerMirroredStrategy; only the chief's copy is kept.
    with output_dir(settings["model_dir"], publish=is_chief(tf_config)) as local_dir:
        export_saved_model(model, local_dir, task)
        write_metrics(metrics, local_dir)
    return metrics


def metrics_record(settings: dict[str, Any], train_split: Split, test: Split, history: dict[str, list[float]],
                   wall_time: float, strategy) -> dict[str, Any]:  # fmt: skip
    """metrics.json without the evaluation figures, which the caller adds."""
    import keras
    import tensorflow as tf

    from trainer.export import history_rows

    return {
        "schema_version": 1,
        "task": settings["task"],
        "model": settings["model"],
        "dataset": settings["data_path"] or settings["dataset"],
        "train_examples": len(train_split[0]),
        "test_examples": len(test[0]),
        "data_fingerprint": fingerprint(*train_split),
        "test_fingerprint": fingerprint(*test),  # the gate rebuilds this split and checks it is the same
        "hyperparameters": {**settings["hyperparameters"], "augment": settings["augment"]},
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "python": platform.python_version()},
        "git_sha": settings["git_sha"],
        "wall_time_s": round(wall_time, 3),
        "history": history_rows(history),
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "created_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def import_frameworks(task: Task, verbose: bool) -> None:
    """TensorFlow (its import's C++ lines hidden unless verbose) and Keras, with Keras' optional integrations only
    for a task that says it uses them (Task.keras_extras)."""
    with collector_paused():  # Keras' import too: its objects, like TensorFlow's, last as long as the job
        import_tensorflow(verbose, os.environ, keras_extras=task.keras_extras)
        import keras  # noqa: F401  (train() uses it)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    environ = dict(os.environ)
    if args.task is not None and args.task not in REGISTRY:
        parser.error(f"--task {args.task!r}: unknown task (tasks: {', '.join(sorted(REGISTRY))})")
    try:
        try:
            settings = resolve_settings(args, environ)
        except TaskError as exc:  # a dataset or model the task does not have, as argparse's choices once refused it
            parser.error(str(exc))
        tf_config = cluster_from_tf_config(environ.get("TF_CONFIG"))
        print(f"trainer: {settings}", flush=True)
        task = load_task(settings["task"])
        import_frameworks(task, args.verbose)
        metrics = train(settings, tf_config, task)
    except (ConfigError, DataError, StorageError, ValueError) as exc:
        print(f"trainer: error: {exc}", file=sys.stderr)
        return 1
    finally:
        # Out of the garbage collector's reach, TensorFlow's objects no longer cost 1-2 s at exit.
        gc.freeze()
    print(
        f"trainer: {metrics['model']} on {metrics['dataset']}: accuracy {metrics['accuracy']:.4f}, "
        f"loss {metrics['loss']:.4f}, {metrics['wall_time_s']:.1f} s -> {settings['model_dir']}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
