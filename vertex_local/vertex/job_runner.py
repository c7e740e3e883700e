"""Run a CustomJob's worker pools as local processes: one process per replica, logs to files.

Each replica runs containerSpec.command + args in the project's environment, with the env Vertex gives
a container: the spec's env, AIP_MODEL_DIR / AIP_CHECKPOINT_DIR / AIP_TENSORBOARD_LOG_DIR under
baseOutputDirectory (gs:// URIs, as on Vertex: a job reaches the bucket only through the storage API),
and TF_CONFIG / CLUSTER_SPEC when a job has more than one replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import json
import os
import re
import shutil
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vertex_local.errors import ApiError

GCS_SCHEME = "gs://"
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")  # Cloud Storage's rule for bucket names
TF_TASK_TYPES = ("chief", "worker", "ps", "evaluator")  # worker pool 0..3, as Vertex maps them
MAX_REPLICAS = 16  # processes one local job may start: Vertex scales further, one machine does not
JOB_EXEC = str(Path(__file__).with_name("job_exec.py"))  # run as a script: it needs nothing but the stdlib
STOP_GRACE_S = 5.0  # SIGTERM first; SIGKILL if a replica is still there after this long


@dataclasses.dataclass(frozen=True)
class Replica:
    name: str  # workerpool0-0
    argv: tuple[str, ...]
    env: dict[str, str]


def output_env(job_spec: dict[str, Any]) -> dict[str, str]:
    """AIP_* directories from baseOutputDirectory, exactly as Vertex derives them: gs:// URIs ending in '/'.

    https://cloud.google.com/vertex-ai/docs/reference/rest/v1/CustomJobSpec (baseOutputDirectory):
    AIP_MODEL_DIR = <base_output_directory>/model/, .../checkpoints/, .../logs/.
    """
    output = job_spec.get("baseOutputDirectory") or {}
    base = output.get("outputUriPrefix") if isinstance(output, dict) else None
    if not base:
        return {}
    bucket = base.removeprefix(GCS_SCHEME).partition("/")[0] if isinstance(base, str) else ""
    if not isinstance(base, str) or not base.startswith(GCS_SCHEME) or not BUCKET_NAME.fullmatch(bucket):
        raise ApiError(400, f"jobSpec.baseOutputDirectory.outputUriPrefix: {base!r} is not a gs://BUCKET/PATH URI")
    root = base.rstrip("/")
    return {
        "AIP_MODEL_DIR": f"{root}/model/",
        "AIP_CHECKPOINT_DIR": f"{root}/checkpoints/",
        "AIP_TENSORBOARD_LOG_DIR": f"{root}/logs/",
    }


def plan_replicas(job_id: str, job_spec: dict[str, Any], base_env: Mapping[str, str]) -> list[Replica]:
    """Every replica of every worker pool, with its argv and environment; ApiError(400) for a bad spec.

    base_env holds STORAGE_EMULATOR_HOST (this server's URL): the one way a job's google-cloud-storage
    client finds vertex-local's buckets. On Vertex the variable is absent and the job's service account is used.
    """
    pools = job_spec.get("workerPoolSpecs")
    if not isinstance(pools, list) or not 1 <= len(pools) <= len(TF_TASK_TYPES):
        raise ApiError(400, f"jobSpec.workerPoolSpecs must be a list of 1 to {len(TF_TASK_TYPES)} worker pools")
    shared = {
        **base_env,
        **output_env(job_spec),
        "CLOUD_ML_JOB_ID": job_id,
        "PYTHONUNBUFFERED": "1",
    }
    planned = [(index, *_pool_plan(index, pool)) for index, pool in enumerate(pools) if pool]
    replicas = []
    total = sum(count for _, count, _, _ in planned)
    if total > MAX_REPLICAS:
        raise ApiError(400, f"the job asks for {total} replicas; vertex-local runs at most {MAX_REPLICAS} processes")
    cluster = _cluster(planned) if total > 1 else None
    for index, count, argv, spec_env in planned:
        for replica in range(count):
            env = {**shared, **spec_env}
            if cluster:
                env |= _cluster_env(cluster, index, replica, job_id)
            replicas.append(Replica(f"workerpool{index}-{replica}", argv, env))
    if not replicas:
        raise ApiError(400, "jobSpec.workerPoolSpecs has no replicas to run")
    return replicas


def _pool_plan(index: int, pool: dict[str, Any]) -> tuple[int, tuple[str, ...], dict[str, str]]:
    where = f"jobSpec.workerPoolSpecs[{index}]"
    if not isinstance(pool, dict):
        raise ApiError(400, f"{where} must be an object")
    if "pythonPackageSpec" in pool:
        raise ApiError(400, f"{where}.pythonPackageSpec is not supported by vertex-local; use containerSpec")
    container = pool.get("containerSpec") or {}
    if not isinstance(container, dict):
        raise ApiError(400, f"{where}.containerSpec must be an object")
    argv = (*argv_part(container, "command", where), *argv_part(container, "args", where))
    if not container.get("command"):
        raise ApiError(400, f"{where}.containerSpec.command is required: vertex-local runs it as a local "
                       "process and cannot read a container image's ENTRYPOINT")  # fmt: skip
    try:
        count = int(pool.get("replicaCount", 1))
    except (TypeError, ValueError, OverflowError):
        raise ApiError(400, f"{where}.replicaCount must be an integer, got {pool.get('replicaCount')!r}") from None
    if count < 0 or (index == 0 and count != 1):
        raise ApiError(400, f"{where}.replicaCount = {count}: pool 0 takes exactly 1 replica, others 0 or more")
    env_list = container.get("env") or []
    if not isinstance(env_list, list) or not all(isinstance(item, dict) for item in env_list):
        raise ApiError(400, f"{where}.containerSpec.env must be a list of {{name, value}} objects")
    env = {str(item.get("name", "")): str(item.get("value", "")) for item in env_list}
    return count, argv, env


def argv_part(container: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    """containerSpec.command or .args as strings; 400 unless it is a list of strings or numbers."""
    parts = container.get(key) or []
    if not isinstance(parts, list) or not all(isinstance(p, str | int | float) for p in parts):
        raise ApiError(400, f"{where}.containerSpec.{key} must be a list of strings")
    return tuple(str(part) for part in parts)


def _cluster(planned: list) -> dict[str, list[str]]:
    """One free loopback port per replica, by TensorFlow task type."""
    return {TF_TASK_TYPES[index]: [f"127.0.0.1:{free_port()}" for _ in range(count)] for index, count, *_ in planned}


def _cluster_env(cluster: dict[str, list[str]], index: int, replica: int, job_id: str) -> dict[str, str]:
    task_type = TF_TASK_TYPES[index]
    tf_config = {"cluster": cluster, "task": {"type": task_type, "index": replica}, "environment": "cloud"}
    pools = {f"workerpool{TF_TASK_TYPES.index(kind)}": hosts for kind, hosts in cluster.items()}
    cluster_spec = {
        "cluster": pools,
        "environment": "cloud",
        "task": {"type": f"workerpool{index}", "index": replica},
    }
    return {"TF_CONFIG": json.dumps(tf_config), "CLUSTER_SPEC": json.dumps(cluster_spec)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def resolve_executable(command: str, path: str, cwd: Path) -> str:
    """The file a job's command[0] names, found as execvp would (PATH unless it holds a '/'); OSError if none."""
    found = shutil.which(command, path=path) if "/" not in command else str(cwd / command)
    if found is None or not os.path.isfile(found):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), command)
    if not os.access(found, os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), command)
    return found


async def start_replica(replica: Replica, cwd: Path, log_path: Path) -> asyncio.subprocess.Process:
    """Start one replica in its own process group, set to die with this server (job_exec.py), logging to a file."""
    executable = resolve_executable(replica.argv[0], replica.env.get("PATH", os.defpath), cwd)
    launcher = (sys.executable, "-I", JOB_EXEC, str(os.getpid()), executable, *replica.argv)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return await asyncio.create_subprocess_exec(
            *launcher, cwd=cwd, env=replica.env, stdin=asyncio.subprocess.DEVNULL,
            stdout=log, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


async def stop_replica(process: asyncio.subprocess.Process) -> None:
    """SIGTERM the replica's process group, then SIGKILL it if it outlives the grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), STOP_GRACE_S)


def describe_exit(name: str, code: int) -> str:
    if code < 0:
        return f"The replica {name} was killed by signal {-code}."
    return f"The replica {name} exited with a non-zero status of {code}."
