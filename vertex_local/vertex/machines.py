"""Machine types, GPUs and replica counts that Vertex accepts, for deployments and for training jobs.

    check_dedicated_resources(resources, where)   DeployedModel.dedicatedResources (deployments.py calls it)
    check_machine_spec(spec, where, TRAINING)      a worker pool's machineSpec (for JobService to call)

Both raise ApiError(400) naming the field, and return the spec with Vertex's defaults filled in.
Sources, cited beside each rule: https://cloud.google.com/vertex-ai/docs/predictions/configure-compute
("prediction page"), https://cloud.google.com/vertex-ai/docs/training/configure-compute ("training page"),
the v1 REST reference of MachineSpec and DedicatedResources, and https://cloud.google.com/compute/docs/gpus
for how many vCPUs an N1 machine may have beside its GPUs.
"""

from __future__ import annotations

import re
from typing import Any

from vertex_local.errors import ApiError
from vertex_local.numbers import is_ascii_digits
from vertex_local.vertex.fields import json_type

PREDICTION, TRAINING = "prediction", "training"
PAGES = {PREDICTION: "https://cloud.google.com/vertex-ai/docs/predictions/configure-compute",
         TRAINING: "https://cloud.google.com/vertex-ai/docs/training/configure-compute"}  # fmt: skip
DEFAULT_DEPLOY_MACHINE = "n1-standard-2"  # MachineSpec.machineType: "For DeployedModel ... default n1-standard-2"


def family(prefix: str, *sizes: int | str) -> set[str]:
    return {f"{prefix}-{size}" for size in sizes}


GPU_MACHINES = (  # the prediction and training pages' A2, A3, A4 and G2 tables (machine type -> its GPUs)
    family("a2-highgpu", "1g", "2g", "4g", "8g") | {"a2-megagpu-16g"} | family("a2-ultragpu", "1g", "2g", "4g", "8g")
    | family("a3-highgpu", "1g", "2g", "4g", "8g") | {"a3-megagpu-8g", "a3-ultragpu-8g", "a4-highgpu-8g"}
    | family("g2-standard", 4, 8, 12, 16, 24, 32, 48, 96)
)  # fmt: skip
# The prediction page's machine type tables (E2, N1, N2, N2D, C2, C2D, C3 series and the GPU machines).
PREDICTION_MACHINES = (
    family("e2-standard", 2, 4, 8, 16, 32) | family("e2-highmem", 2, 4, 8, 16)
    | family("e2-highcpu", 2, 4, 8, 16, 32) | family("n1-standard", 2, 4, 8, 16, 32)
    | family("n1-highmem", 2, 4, 8, 16, 32) | family("n1-highcpu", 4, 8, 16, 32)
    | family("n2-standard", 2, 4, 8, 16, 32, 48, 64, 80) | family("n2-highmem", 2, 4, 8, 16, 32, 48, 64, 80)
    | family("n2-highcpu", 2, 4, 8, 16, 32, 48, 64, 80)
    | family("n2d-standard", 2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224)
    | family("n2d-highmem", 2, 4, 8, 16, 32, 48, 64, 80, 96)
    | family("n2d-highcpu", 2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224) | family("c2-standard", 4, 8, 16, 30, 60)
    | family("c2d-standard", 2, 4, 8, 16, 32, 56, 112) | family("c2d-highmem", 2, 4, 8, 16, 32, 56, 112)
    | family("c2d-highcpu", 2, 4, 8, 16, 32, 56, 112) | family("c3-standard", 4, 8, 22, 44, 88, 176)
    | family("c3-highmem", 4, 8, 22, 44, 88, 176) | family("c3-highcpu", 4, 8, 22, 44, 88, 176) | GPU_MACHINES
)  # fmt: skip
# The training page's machine type table.
TRAINING_MACHINES = (
    family("e2-standard", 4, 8, 16, 32) | family("e2-highmem", 2, 4, 8, 16) | family("e2-highcpu", 16, 32)
    | family("n2-standard", 4, 8, 16, 32, 48, 64, 80) | family("n2-highmem", 2, 4, 8, 16, 32, 48, 64, 80)
    | family("n2-highcpu", 16, 32, 48, 64, 80) | family("n1-standard", 4, 8, 16, 32, 64, 96)
    | family("n1-highmem", 2, 4, 8, 16, 32, 64, 96) | family("n1-highcpu", 16, 32, 64, 96)
    | family("c2-standard", 4, 8, 16, 30, 60) | family("m1-ultramem", 40, 80, 160) | {"m1-megamem-96"} | GPU_MACHINES
)  # fmt: skip
# GPUs an N1 machine takes, with the most vCPUs the machine may have for each GPU count (compute/docs/gpus).
N1_GPUS = {
    "NVIDIA_TESLA_T4": {1: 48, 2: 48, 4: 96},
    "NVIDIA_TESLA_P4": {1: 24, 2: 48, 4: 96},
    "NVIDIA_TESLA_P100": {1: 16, 2: 32, 4: 96},
    "NVIDIA_TESLA_V100": {1: 12, 2: 24, 4: 48, 8: 96},
}
# Accelerator-optimized machines: their GPU, and how many it has. MachineSpec.acceleratorCount: "For accelerator
# optimized machine types ... One may set the accelerator_count from 1 to N for machine with N GPUs."
OPTIMIZED_GPUS = {
    "a2-highgpu": "NVIDIA_TESLA_A100", "a2-megagpu": "NVIDIA_TESLA_A100", "a2-ultragpu": "NVIDIA_A100_80GB",
    "a3-highgpu": "NVIDIA_H100_80GB", "a3-megagpu": "NVIDIA_H100_MEGA_80GB", "a3-ultragpu": "NVIDIA_H200_141GB",
    "a4-highgpu": "NVIDIA_B200", "g2-standard": "NVIDIA_L4",
}  # fmt: skip
# AcceleratorType's numbers (google/cloud/aiplatform/v1/accelerator_type.proto): JSON may carry an enum as its
# number, and the SDK's REST transport does (enum-encoding=int).
ACCELERATOR_NUMBERS = {
    0: "ACCELERATOR_TYPE_UNSPECIFIED", 1: "NVIDIA_TESLA_K80", 2: "NVIDIA_TESLA_P100", 3: "NVIDIA_TESLA_V100",
    4: "NVIDIA_TESLA_P4", 5: "NVIDIA_TESLA_T4", 6: "TPU_V2", 7: "TPU_V3", 8: "NVIDIA_TESLA_A100",
    9: "NVIDIA_A100_80GB", 10: "TPU_V4_POD", 11: "NVIDIA_L4", 12: "TPU_V5_LITEPOD", 13: "NVIDIA_H100_80GB",
    14: "NVIDIA_H100_MEGA_80GB", 15: "NVIDIA_H200_141GB", 16: "NVIDIA_B200", 17: "NVIDIA_GB200",
    18: "NVIDIA_RTX_PRO_6000",
}  # fmt: skip
G2_GPU_COUNTS = {"4": 1, "8": 1, "12": 1, "16": 1, "24": 2, "32": 1, "48": 4, "96": 8}  # the G2 table


def gpus_of(machine: str) -> tuple[str, int] | None:
    """(GPU type, count) an accelerator-optimized machine comes with; None for other machines."""
    series, _, size = machine.rpartition("-")
    if series not in OPTIMIZED_GPUS:
        return None
    count = G2_GPU_COUNTS[size] if series == "g2-standard" else int(size.removesuffix("g"))
    return OPTIMIZED_GPUS[series], count


def integer(value: Any, where: str, default: int) -> int:
    """A JSON integer, or an int64 as the REST mapping writes it (a string of digits)."""
    if value is None:
        return default
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and is_ascii_digits(value))):
        raise ApiError(400, f"{where} must be an integer, got {json_type(value)} {value!r}")
    return int(value)


def check_accelerators(machine: str, accelerator: str, count: int, where: str) -> None:
    """The GPU type and count a machine takes (the pages' GPU tables)."""
    built_in = gpus_of(machine)
    if built_in is not None:
        kind, most = built_in
        if accelerator != kind or not 1 <= count <= most:
            raise ApiError(400, f"{where}: {machine} takes acceleratorType {kind} with acceleratorCount 1 to {most}, "
                           f"not {accelerator or 'none'} x {count}")  # fmt: skip
        return
    if not accelerator and not count:
        return
    limits = N1_GPUS.get(accelerator) if machine.startswith("n1-") else None
    if limits is None:
        raise ApiError(400, f"{where}: {machine} takes no {accelerator or 'accelerator'}; GPUs attach to N1 "
                       f"machines ({', '.join(N1_GPUS)}) or come with A2, A3, A4 and G2 machines")  # fmt: skip
    vcpus = int(re.sub(r"\D", "", machine.rsplit("-", 1)[1]))
    if count not in limits or vcpus > limits[count]:
        allowed = ", ".join(f"{n} (up to {cpus} vCPUs)" for n, cpus in limits.items())
        raise ApiError(400, f"{where}: {accelerator} x {count} on {machine} ({vcpus} vCPUs) is not offered; "
                       f"acceleratorCount can be {allowed}")  # fmt: skip


def check_machine_spec(spec: Any, where: str, purpose: str) -> dict[str, Any]:
    """A MachineSpec for `purpose` (PREDICTION or TRAINING), with the deploy default machine filled in."""
    if not isinstance(spec, dict):
        raise ApiError(400, f"{where} is required and must be an object")
    machine = spec.get("machineType") or (DEFAULT_DEPLOY_MACHINE if purpose == PREDICTION else None)
    known = PREDICTION_MACHINES if purpose == PREDICTION else TRAINING_MACHINES
    if not isinstance(machine, str) or machine not in known:  # a list or object is not hashable: no lookup
        raise ApiError(400, f"{where}.machineType {machine!r} is not a machine type Vertex offers for {purpose} "
                       f"(see {PAGES[purpose]})")  # fmt: skip
    accelerator = spec.get("acceleratorType") or ""
    if isinstance(accelerator, int) and not isinstance(accelerator, bool):  # the SDK sends enum-encoding=int
        accelerator = ACCELERATOR_NUMBERS.get(accelerator, accelerator)
    if accelerator == "ACCELERATOR_TYPE_UNSPECIFIED":
        accelerator = ""
    if not isinstance(accelerator, str):
        raise ApiError(400, f"{where}.acceleratorType must be an AcceleratorType name, got {accelerator!r}")
    count = integer(spec.get("acceleratorCount"), f"{where}.acceleratorCount", 0)
    check_accelerators(machine, accelerator, count, where)
    return {**spec, "machineType": machine}


def check_dedicated_resources(resources: Any, where: str) -> dict[str, Any]:
    """DedicatedResources: machineSpec "Required", minReplicaCount "Required ... must be greater than or equal to
    1", maxReplicaCount defaults to minReplicaCount and may not be below it."""
    if not isinstance(resources, dict):
        raise ApiError(400, f"{where} must be an object, got {json_type(resources)}")
    spec = check_machine_spec(resources.get("machineSpec"), f"{where}.machineSpec", PREDICTION)
    least = integer(resources.get("minReplicaCount"), f"{where}.minReplicaCount", 0)
    if least < 1:
        raise ApiError(400, f"{where}.minReplicaCount is required and must be at least 1, got {least}")
    most = integer(resources.get("maxReplicaCount"), f"{where}.maxReplicaCount", 0) or least
    if most < least:
        raise ApiError(400, f"{where}.maxReplicaCount {most} is below minReplicaCount {least}")
    return {**resources, "machineSpec": spec, "minReplicaCount": least, "maxReplicaCount": most}
