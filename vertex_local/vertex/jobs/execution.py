"""Start a custom job's replica so it dies with vertex-local: python execution.py SERVER_PID SETUP EXECUTABLE ARGV...

vertex-local runs this file (stdlib only, `python -I`) in place of the job's command. On Linux it asks the
kernel to SIGKILL it when its parent (the server, SERVER_PID) dies, PR_SET_PDEATHSIG, which survives the exec;
then it runs the SETUP commands (a JSON list of argv lists: a prebuilt image's `pip install`), each to the end,
and becomes EXECUTABLE with ARGV. Doing this here rather than in a preexec_fn keeps Python code out of the
forked child of a threaded server. A server that died before the request was made is caught by comparing the
parent with SERVER_PID. Children the job starts itself (setup commands included) are not covered by the signal;
the server's restart stops the job's whole process group (vertex_local/vertex/jobs/process_groups.py).
"""

from __future__ import annotations

import ctypes
import json
import os
import shlex
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_GONE_EXIT = 137  # as if SIGKILLed, which is what the signal would have done


def die_with_parent(parent_pid: int) -> bool:
    """Ask for SIGKILL when the parent dies; False if the parent is already gone (it was `parent_pid`)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    return os.getppid() == parent_pid


def run_setup(commands: list[list[str]]) -> int:
    """Each setup command in turn, saying in the log what runs; the status of the first one that fails."""
    for command in commands:
        print(f"vertex-local: running {shlex.join(command)}", flush=True)
        status = subprocess.call(command, stdin=subprocess.DEVNULL)
        if status != 0:
            print(f"vertex-local: the command exited with status {status}", flush=True)
            return status if status > 0 else 128 - status
    return 0


def main(argv: list[str]) -> int:
    parent_pid, setup, executable, command = int(argv[0]), json.loads(argv[1]), argv[2], argv[3:]
    if not die_with_parent(parent_pid):
        return PARENT_GONE_EXIT
    status = run_setup(setup)
    if status:
        return status
    os.execv(executable, command)  # the server resolved the executable; argv[0] stays what the job spec says
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
