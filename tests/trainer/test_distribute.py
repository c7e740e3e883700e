"""TF_CONFIG and the visible GPUs pick the tf.distribute strategy; only the chief writes."""

from __future__ import annotations

import json

import pytest

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
