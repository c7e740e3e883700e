"""The process groups custom jobs run in: recorded while they run, recognised and stopped after a server crash.

Each replica leads its own process group (its pid is the group id). While it runs, the server stores its pid,
its start time (clock ticks since boot, /proc/PID/stat field 22) and the boot id. At the next start a recorded
group is stopped only while it is still that job's: same boot, and either its leader is alive with the same start
time, or the leader is gone and a member that started no earlier carries the job's CLOUD_ML_JOB_ID. Pids are
reused; a start time on one boot is not. Linux only (it reads /proc): elsewhere nothing is recorded or stopped,
and a job's own children may outlive a crashed server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
from pathlib import Path
from typing import Any

PROC = Path("/proc")
BOOT_ID = PROC / "sys/kernel/random/boot_id"
START_TIME_FIELD = 22  # of /proc/PID/stat, counting from 1 (man 5 proc)
JOB_VARIABLE = "CLOUD_ML_JOB_ID"  # in every replica's environment, as Vertex sets it


@dataclasses.dataclass(frozen=True)
class Running:
    """One live process as /proc/PID/stat shows it."""

    pid: int
    group: int
    start_ticks: int


def read_stat(pid: int) -> Running | None:
    """The process, or None when it is gone or a zombie (dead, waiting to be reaped)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    if fields[0] in ("Z", "X"):
        return None
    return Running(pid, int(fields[2]), int(fields[START_TIME_FIELD - 3]))


def boot_id() -> str:
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""


def record(replica: str, pid: int) -> dict[str, Any] | None:
    """What identifies a just-started replica's group later; None where /proc is missing."""
    running = read_stat(pid)
    if running is None or not boot_id():
        return None
    return {"replica": replica, "pid": pid, "startTicks": running.start_ticks, "bootId": boot_id()}


def group_members(group: int) -> list[Running]:
    found: list[Running] = []
    if not PROC.is_dir():
        return found
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (running := read_stat(int(entry.name))) and running.group == group:
            found.append(running)
    return found


def carries_job_id(pid: int, job_id: str, variable: str = JOB_VARIABLE) -> bool:
    try:
        environ = (PROC / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"{variable}={job_id}".encode() in environ


def is_the_jobs(saved: dict[str, Any], job_id: str, members: list[Running], variable: str = JOB_VARIABLE) -> bool:
    """Whether this live group is the one the record describes (see the module docstring)."""
    if saved.get("bootId") != boot_id():
        return False
    leader = next((member for member in members if member.pid == saved["pid"]), None)
    if leader is not None:
        return leader.start_ticks == saved["startTicks"]
    return any(m.start_ticks >= saved["startTicks"] and carries_job_id(m.pid, job_id, variable) for m in members)


def stop_leftovers(saved: list[dict[str, Any]], job_id: str, variable: str = JOB_VARIABLE) -> int:
    """SIGKILL every recorded group that is still the job's (its members carry `variable`=job_id); returns how
    many processes were in them. Serving containers (containers.py) are recognised the same way."""
    stopped = 0
    for entry in saved:
        members = group_members(entry["pid"])
        if members and is_the_jobs(entry, job_id, members, variable):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(entry["pid"], signal.SIGKILL)
                stopped += len(members)
    return stopped
