"""Start a custom job's replica so it dies with vertex-local: python job_exec.py SERVER_PID EXECUTABLE ARGV...

vertex-local runs this file (stdlib only, `python -I`) in place of the job's command. On Linux it asks the
kernel to SIGKILL it when its parent (the server, SERVER_PID) dies, PR_SET_PDEATHSIG, which survives the exec;
then it becomes EXECUTABLE with ARGV. Doing this here rather than in a preexec_fn keeps Python code out of the
forked child of a threaded server. A server that died before the request was made is caught by comparing the
parent with SERVER_PID. Children the job starts itself are not covered by the signal; the server's restart stops
the job's whole process group (vertex_local/vertex/process_groups.py).
"""

from __future__ import annotations

import ctypes
import os
import signal
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


def main(argv: list[str]) -> int:
    parent_pid, executable, command = int(argv[0]), argv[1], argv[2:]
    if not die_with_parent(parent_pid):
        return PARENT_GONE_EXIT
    os.execv(executable, command)  # the server resolved the executable; argv[0] stays what the job spec says
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
