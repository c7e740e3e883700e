"""Run a CustomJob's worker pools as local processes: one process per replica, each in its own venv, logs to files.

Each replica runs with the env Vertex gives a container: the spec's env, AIP_MODEL_DIR / AIP_CHECKPOINT_DIR /
AIP_TENSORBOARD_LOG_DIR under baseOutputDirectory (gs:// URIs, as on Vertex: a job reaches the bucket only through
the storage API), and TF_CONFIG / CLUSTER_SPEC when a job has more than one replica. A containerSpec runs its
command + args in the server's working directory; a pythonPackageSpec installs its packages into a fresh venv,
then runs `python -m module args` in the replica's own folder (envs.py). /gcs/ paths in either point into the
job's workspace (gcs_io.py).
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
from vertex_local.vertex.jobs import envs, gcs_io
from vertex_local.vertex.jobs.pools import Pool, check_pool

GCS_SCHEME = "gs://"
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")  # Cloud Storage's rule for bucket names
TF_TASK_TYPES = ("chief", "worker", "ps", "evaluator")  # worker pool 0..3, as Vertex maps them
MAX_REPLICAS = 16  # processes one local job may start: Vertex scales further, one machine does not
JOB_EXEC = str(Path(__file__).with_name("execution.py"))  # run as a script: it needs nothing but the stdlib
STOP_GRACE_S = 5.0  # SIGTERM first; SIGKILL if a replica is still there after this long
NEEDS_METADATA = ("experiment", "experimentRun", "tensorboard")  # refused, never stored and ignored


@dataclasses.dataclass(frozen=True)
class Replica:
    name: str  # workerpool0-0
    argv: tuple[str, ...]
    env: dict[str, str]
    python: envs.JobPython
    setup: tuple[tuple[str, ...], ...] = ()  # commands run before argv (a prebuilt image's pip install)
    cwd: Path | None = None  # None: the server's working directory


@dataclasses.dataclass(frozen=True)
class JobPlan:
    workspace: Path  # the job's own folder: replicas' venvs, copied packages, the /gcs stand-in
    replicas: list[Replica]
    packages: dict[str, str]  # local file -> the gs:// package it is copied from
    mounts: set[gcs_io.Reference]

    @property
    def gcs_root(self) -> Path:
        return self.workspace / "gcs"


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


def plan_job(job_id: str, job_spec: dict[str, Any], base_env: Mapping[str, str], workspace: Path) -> JobPlan:
    """Every replica of every worker pool, with its argv, environment and venv; ApiError(400) for a bad spec.

    base_env holds STORAGE_EMULATOR_HOST (this server's URL): the one way a job's google-cloud-storage
    client finds vertex-local's buckets. On Vertex the variable is absent and the job's service account is used.
    """
    for field in NEEDS_METADATA:
        if job_spec.get(field):
            raise ApiError(400, f"jobSpec.{field}: Vertex Experiments and Vertex AI TensorBoard are not implemented by "
                           "vertex-local (no Vertex ML Metadata); leave it out locally")  # fmt: skip
    pools = job_spec.get("workerPoolSpecs")
    if not isinstance(pools, list) or not 1 <= len(pools) <= len(TF_TASK_TYPES):
        raise ApiError(400, f"jobSpec.workerPoolSpecs must be a list of 1 to {len(TF_TASK_TYPES)} worker pools")
    planned = [check_pool(index, pool) for index, pool in enumerate(pools) if pool]
    total = sum(pool.count for pool in planned)
    if total > MAX_REPLICAS:
        raise ApiError(400, f"the job asks for {total} replicas; vertex-local runs at most {MAX_REPLICAS} processes")
    if not total:
        raise ApiError(400, "jobSpec.workerPoolSpecs has no replicas to run")
    plan = JobPlan(workspace, [], {}, gcs_io.references(text for pool in planned for text in pool.texts()))
    if plan.mounts and not gcs_io.root_is_safe(plan.gcs_root):
        raise ApiError(400, f"the job names /gcs/ paths, and vertex-local's state folder {plan.gcs_root} cannot stand "
                       "in for /gcs in a command line (it holds spaces or shell characters)")  # fmt: skip
    shared = {**base_env, **output_env(job_spec), "CLOUD_ML_JOB_ID": job_id, "PYTHONUNBUFFERED": "1"}
    cluster = _cluster(planned) if total > 1 else None
    for pool in planned:
        files = pool.package.package_files(str(workspace / "packages" / str(pool.index))) if pool.package else []
        plan.packages.update(zip(files, pool.package.package_uris if pool.package else (), strict=True))
        for replica in range(pool.count):
            env = {**shared, **{key: gcs_io.rewrite(value, plan.gcs_root) for key, value in pool.env.items()}}
            if cluster:
                env |= _cluster_env(cluster, pool.index, replica, job_id)
            plan.replicas.append(_replica(pool, f"workerpool{pool.index}-{replica}", env, plan.gcs_root, files))
    return plan


def _replica(pool: Pool, name: str, env: dict[str, str], gcs_root: Path, packages: list[str]) -> Replica:
    python = envs.JobPython(gcs_root.parent / name, pool.kind)
    env |= python.env(env.get("PATH", os.defpath))  # its venv first, whatever PATH the spec set
    argv = tuple(gcs_io.rewrite(part, gcs_root) for part in pool.argv)
    if pool.package is None:
        return Replica(name, argv, env, python)
    command = (str(python.python), "-m", pool.package.module, *argv)
    return Replica(name, command, env, python, (python.pip_install(packages),), python.root)


def _cluster(planned: list[Pool]) -> dict[str, list[str]]:
    """One free loopback port per replica, by TensorFlow task type."""
    return {TF_TASK_TYPES[pool.index]: [f"127.0.0.1:{free_port()}" for _ in range(pool.count)] for pool in planned}


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


async def start_replica(replica: Replica, workdir: Path, log_path: Path) -> asyncio.subprocess.Process:
    """Start one replica in its own process group, set to die with this server (execution.py), logging to a file."""
    cwd = replica.cwd or workdir
    executable = resolve_executable(replica.argv[0], replica.env.get("PATH", os.defpath), cwd)
    setup = json.dumps([list(command) for command in replica.setup])
    launcher = (sys.executable, "-I", JOB_EXEC, str(os.getpid()), setup, executable, *replica.argv)
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


async def first_failure(running: dict[str, asyncio.subprocess.Process]) -> tuple[str, int] | None:
    """Wait for every replica: (name, status) of the first one to exit non-zero, or None when all succeed."""
    waits = {asyncio.create_task(process.wait()): name for name, process in running.items()}
    try:
        while waits:
            finished, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                name, code = waits.pop(task), task.result()
                if code != 0:
                    return name, code
        return None
    finally:
        for task in waits:
            task.cancel()


def describe_exit(name: str, code: int) -> str:
    if code < 0:
        return f"The replica {name} was killed by signal {-code}."
    return f"The replica {name} exited with a non-zero status of {code}."
