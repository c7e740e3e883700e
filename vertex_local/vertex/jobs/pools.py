"""One worker pool of a CustomJob, checked as Vertex checks it at create: its machine, replicas and task.

A WorkerPoolSpec holds a machineSpec (machineType "required" for a WorkerPoolSpec: v1 MachineSpec reference;
the machine rules are machines.py's), a replicaCount, and exactly one task (`oneof task`): a containerSpec
(command and args, run as a local process) or a pythonPackageSpec (packages.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from vertex_local.errors import ApiError
from vertex_local.vertex import machines
from vertex_local.vertex.fields import json_type
from vertex_local.vertex.jobs import envs
from vertex_local.vertex.jobs.packages import MAX_ENV, PackageSpec, check_package_spec, env_list, string_list


@dataclasses.dataclass(frozen=True)
class Pool:
    index: int
    count: int
    kind: str  # envs.CONTAINER or envs.PREBUILT
    argv: tuple[str, ...]  # CONTAINER: command + args; PREBUILT: the args after `python -m module`
    env: dict[str, str]
    package: PackageSpec | None = None

    def texts(self) -> list[str]:
        """Every string of the task that may name a /gcs/ path."""
        return [*self.argv, *self.env.values()]


def check_pool(index: int, pool: Any) -> Pool:
    """workerPoolSpecs[index]; ApiError(400) naming the field."""
    where = f"jobSpec.workerPoolSpecs[{index}]"
    if not isinstance(pool, dict):
        raise ApiError(400, f"{where} must be an object, got {json_type(pool)}")
    machines.check_machine_spec(pool.get("machineSpec"), f"{where}.machineSpec", machines.TRAINING)
    count = replica_count(index, pool, where)
    tasks = [key for key in ("containerSpec", "pythonPackageSpec") if pool.get(key) is not None]
    if len(tasks) != 1:
        raise ApiError(400, f"{where} needs exactly one of containerSpec and pythonPackageSpec, got "
                       f"{' and '.join(tasks) or 'neither'}")  # fmt: skip
    if tasks == ["pythonPackageSpec"]:
        package = check_package_spec(pool["pythonPackageSpec"], f"{where}.pythonPackageSpec")
        return Pool(index, count, envs.PREBUILT, package.args, package.env, package)
    return container_pool(index, count, pool["containerSpec"], f"{where}.containerSpec")


def replica_count(index: int, pool: dict[str, Any], where: str) -> int:
    """Pool 0 is the chief: exactly 1 replica. The others take 0 or more."""
    count = machines.integer(pool.get("replicaCount"), f"{where}.replicaCount", 1)
    if (index == 0 and count != 1) or count < 0:
        raise ApiError(400, f"{where}.replicaCount = {count}: pool 0 takes exactly 1 replica, others 0 or more")
    return count


def container_pool(index: int, count: int, container: Any, where: str) -> Pool:
    if not isinstance(container, dict):
        raise ApiError(400, f"{where} must be an object, got {json_type(container)}")
    if not container.get("command"):
        raise ApiError(400, f"{where}.command is required: vertex-local runs it as a local process and cannot "
                       "read a container image's ENTRYPOINT")  # fmt: skip
    argv = (*string_list(container, "command", where), *string_list(container, "args", where))
    return Pool(index, count, envs.CONTAINER, argv, env_list(container, where, MAX_ENV))
