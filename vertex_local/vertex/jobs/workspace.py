"""A custom job's workspace: what its replicas need before they start, and what is left to do when they end.

<state>/jobs/<id>/workspace/ holds each replica's venv (envs.py), the packages of a pythonPackageSpec copied
out of Cloud Storage, and gcs/, the job's stand-in for /gcs/ (gcs_io.py). Packages and /gcs/ reads go through
the object store's public API (read_object, copy_prefix). The workspace is removed when the job ends, and any
left by a crash when the server starts again; only the logs stay.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from vertex_local.gcs import ObjectStore
from vertex_local.vertex.jobs import envs, gcs_io
from vertex_local.vertex.jobs.runner import JobPlan

WORKSPACE = "workspace"


@dataclasses.dataclass(frozen=True)
class Prepared:
    notes: list[str]  # one line each, written at the top of every replica's log
    before: dict[str, tuple[int, int]]  # the /gcs/ stand-in's files as copied in (gcs_io.snapshot)


def prepare(plan: JobPlan, objects: ObjectStore, read_limit: int) -> Prepared:
    """Venvs, packages and /gcs/ copies (blocking); ValueError saying what could not be read."""
    for replica in plan.replicas:
        envs.create(replica.python)
    for file, uri in plan.packages.items():
        try:
            data = objects.read_object(uri, read_limit)
        except ValueError as exc:
            raise ValueError(f"cannot read the package {uri}: {exc}") from None
        Path(file).parent.mkdir(parents=True, exist_ok=True)
        Path(file).write_bytes(data)
    if not plan.mounts:
        return Prepared([], {})
    plan.gcs_root.mkdir(parents=True, exist_ok=True)
    notes = gcs_io.copy_in(objects, plan.gcs_root, plan.mounts, read_limit)
    return Prepared(notes, gcs_io.snapshot(plan.gcs_root))


def write_back(plan: JobPlan, prepared: Prepared, storage: gcs_io.StorageApi, log: Path) -> str:
    """Upload what the job wrote under its /gcs/ stand-in (blocking), each upload noted in the log; what failed."""
    if not plan.mounts or not plan.gcs_root.is_dir():
        return ""
    written, failures = gcs_io.write_back(plan.gcs_root, prepared.before, storage)
    note([f"wrote {uri} from /gcs/" for uri in written] + [f"not written: {failure}" for failure in failures], [log])
    return "; ".join(failures)


def note(lines: list[str], logs: list[Path]) -> None:
    """vertex-local's own lines in replicas' logs (what was copied in, what was written back)."""
    for log in logs if lines else ():
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as out:
            out.writelines(f"vertex-local: {line}\n" for line in lines)


def remove(job_dir: Path) -> None:
    shutil.rmtree(job_dir / WORKSPACE, ignore_errors=True)


def remove_all(logs_dir: Path) -> int:
    """Every job's workspace (after a restart nothing runs); returns how many there were."""
    found = [path for path in logs_dir.glob(f"*/{WORKSPACE}") if path.is_dir()]
    for path in found:
        shutil.rmtree(path, ignore_errors=True)
    return len(found)
