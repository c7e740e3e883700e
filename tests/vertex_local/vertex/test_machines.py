"""Machine types, GPUs and replica counts, as the prediction and training configure-compute pages list them."""

from __future__ import annotations

import pytest

from vertex_local.errors import ApiError
from vertex_local.vertex.machines import TRAINING, check_dedicated_resources, check_machine_spec


def resources(machine: str | None = "n1-standard-2", gpu: str = "", count: int = 0, least: object = 1,
              most: object = None) -> dict:  # fmt: skip
    spec = {key: value for key, value in (("machineType", machine), ("acceleratorType", gpu),
                                          ("acceleratorCount", count)) if value}  # fmt: skip
    found = {"machineSpec": spec, "minReplicaCount": least}
    return found if most is None else {**found, "maxReplicaCount": most}


@pytest.mark.parametrize(
    "given",
    [
        resources(),
        resources("e2-standard-2"),
        resources("n1-highcpu-32"),
        resources("n2-standard-80"),
        resources("n1-standard-4", "NVIDIA_TESLA_T4", 4),
        resources("n1-standard-8", "NVIDIA_TESLA_V100", 1),
        resources("a2-highgpu-2g", "NVIDIA_TESLA_A100", 2),
        resources("a3-highgpu-8g", "NVIDIA_H100_80GB", 2),  # fewer GPUs than the machine has: co-scheduled
        resources("g2-standard-24", "NVIDIA_L4", 2),
        resources(least="2", most="4"),  # int64 fields may travel as strings
    ],
)
def test_machines_vertex_offers_for_prediction_are_accepted(given: dict) -> None:
    checked = check_dedicated_resources(given, "deployedModel.dedicatedResources")
    assert checked["maxReplicaCount"] >= checked["minReplicaCount"] >= 1


def test_a_deployment_without_a_machine_type_gets_n1_standard_2_and_max_replicas_default_to_min() -> None:
    checked = check_dedicated_resources(resources(None, least=3), "d")
    assert checked["machineSpec"]["machineType"] == "n1-standard-2" and checked["maxReplicaCount"] == 3


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        (resources("n1-standard-3"), "not a machine type"),
        (resources("n1-highcpu-2"), "not a machine type"),  # N1 highcpu starts at 4 vCPUs for prediction
        (resources("m1-ultramem-40"), "not a machine type"),  # a training machine
        (resources("e2-standard-4", "NVIDIA_TESLA_T4", 1), "takes no NVIDIA_TESLA_T4"),
        (resources("n1-standard-4", "NVIDIA_TESLA_T4", 3), "acceleratorCount can be"),
        (resources("n1-standard-16", "NVIDIA_TESLA_V100", 1), "16 vCPUs"),
        (resources("n1-standard-4", "NVIDIA_TESLA_A100", 1), "takes no NVIDIA_TESLA_A100"),
        (resources("a2-highgpu-2g", "NVIDIA_TESLA_A100", 4), "1 to 2"),
        (resources("a2-highgpu-1g"), "takes acceleratorType NVIDIA_TESLA_A100"),
        (resources("g2-standard-4", "NVIDIA_TESLA_T4", 1), "takes acceleratorType NVIDIA_L4"),
        (resources(least=0), "at least 1"),
        (resources(least=3, most=2), "below minReplicaCount"),
        (resources(least=1.5), "must be an integer"),
        ({"minReplicaCount": 1}, "machineSpec is required"),
    ],
)
def test_machines_vertex_does_not_offer_are_a_bad_request_naming_the_field(given: dict, problem: str) -> None:
    with pytest.raises(ApiError) as caught:
        check_dedicated_resources(given, "deployedModel.dedicatedResources")
    assert caught.value.code == 400 and problem in caught.value.message
    assert "deployedModel.dedicatedResources" in caught.value.message


@pytest.mark.parametrize(
    ("spec", "accepted"),
    [
        ({"machineType": "n1-standard-4"}, True),
        ({"machineType": "n1-standard-96", "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 4}, True),
        ({"machineType": "m1-ultramem-40"}, True),
        ({"machineType": "n1-standard-2"}, False),  # prediction only
        ({}, False),  # WorkerPoolSpec's machineType is required: no default
        ({"machineType": "n1-standard-96", "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 2}, False),
    ],
)
def test_training_machine_specs_follow_the_training_page(spec: dict, accepted: bool) -> None:
    if accepted:
        assert check_machine_spec(spec, "workerPoolSpecs[0].machineSpec", TRAINING)["machineType"]
    else:
        with pytest.raises(ApiError, match=r"workerPoolSpecs\[0\]\.machineSpec"):
            check_machine_spec(spec, "workerPoolSpecs[0].machineSpec", TRAINING)
