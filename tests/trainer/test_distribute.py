"""TF_CONFIG and the visible GPUs pick the tf.distribute strategy; only the chief writes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from tests.support.vertex_local_server import REPO_ROOT
from trainer.distribute import cluster_from_tf_config, is_chief, make_strategy, strategy_kind


def tf_config(workers: int, chief: bool = False, role: str = "worker", index: int = 0) -> dict:
    cluster = {"worker": [f"w{i}:2222" for i in range(workers)]}
    if chief:
        cluster["chief"] = ["c:2222"]
    return {"cluster": cluster, "task": {"type": role, "index": index}}


@pytest.mark.parametrize(
    "config, gpus, expected",
    [
        ({}, 0, "default"),
        ({}, 1, "default"),
        ({}, 2, "mirrored"),
        (tf_config(1), 0, "default"),
        (tf_config(2), 0, "multi_worker"),
        (tf_config(1, chief=True), 4, "multi_worker"),
    ],
)
def test_strategy_kind_follows_the_cluster_then_the_gpus(config, gpus, expected):
    assert strategy_kind(config, gpus) == expected


@pytest.mark.parametrize(
    "config, expected",
    [
        ({}, True),
        (tf_config(2, role="worker", index=0), True),
        (tf_config(2, role="worker", index=1), False),
        (tf_config(2, chief=True, role="chief"), True),
        (tf_config(2, chief=True, role="worker", index=0), False),
    ],
)
def test_only_the_chief_writes(config, expected):
    assert is_chief(config) is expected


def test_tf_config_is_parsed_and_bad_json_is_a_clear_error():
    assert cluster_from_tf_config(json.dumps(tf_config(2)))["task"]["type"] == "worker"
    assert cluster_from_tf_config(None) == {}
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        cluster_from_tf_config("{oops")


def test_the_default_kind_builds_tensorflows_default_strategy():
    strategy = make_strategy("default")
    assert strategy.num_replicas_in_sync == 1 and type(strategy).__name__ == "_DefaultDistributionStrategy"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


@pytest.mark.slow
def test_two_workers_train_together_and_only_the_chief_writes(tmp_path):
    """Two real trainer processes under MultiWorkerMirroredStrategy, as Vertex runs a 2-replica worker pool."""
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    model_dir = tmp_path / "model"
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trainer.task",
                "--dataset",
                "mnist-sample",
                "--model",
                "baseline",
                "--epochs",
                "1",
                "--model-dir",
                str(model_dir),
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={
                **os.environ,
                "TF_CPP_MIN_LOG_LEVEL": "3",
                "TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}),
            },
        )
        for i in range(2)
    ]
    outputs = [process.communicate(timeout=240)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["strategy"] == "CollectiveAllReduceStrategy" and metrics["replicas"] == 2
    assert metrics["accuracy"] > 0.5 and len(metrics["history"]) == 1
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "assets",
        "fingerprint.pb",
        "metrics.json",
        "saved_model.pb",
        "variables",
    ]
