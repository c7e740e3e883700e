"""Run vertex-local in the background: python -m vertex_local start|stop --state-dir .vertex-local

`start` launches `serve` detached, logging to <state-dir>/server.log, records its pid in
<state-dir>/server.pid and returns once /healthz answers. `stop` Ctrl-Cs that process (a clean
shutdown: running jobs end FAILED, state is kept) and waits for it to exit.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

START_TIMEOUT_S = 60.0  # a start on a busy machine (deployed models load after /healthz answers)
STOP_TIMEOUT_S = 30.0
HEALTH_MAX_BYTES = 64 * 1024  # /healthz's answer is a few dozen bytes; whatever else answers is read no further
TOKEN_VARIABLE = "VERTEX_LOCAL_TOKEN"  # how `serve` gets its bearer token without showing it in `ps`


def pid_file(state_dir: Path) -> Path:
    return state_dir / "server.pid"


def running_pid(state_dir: Path) -> int | None:
    """The pid in the pid file if that process is still a vertex-local server (pids get reused)."""
    try:
        pid = int(pid_file(state_dir).read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if b"vertex_local" in command and b"serve" in command else None


def who_answers(url: str, token: str | None = None) -> dict | None:
    """What /healthz on `url` says about the server answering (its pid and state dir), or None if none answers.

    Anything else that answers 200 (another program on the port) is {} here: not the server `start` started."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{url}/healthz", headers=headers), timeout=1) as answer:
            if answer.status != 200:
                return None
            health = json.loads(answer.read(HEALTH_MAX_BYTES))
    except (urllib.error.URLError, OSError):
        return None
    except ValueError:  # not JSON: some other program
        return {}
    return health if isinstance(health, dict) else {}


def is_healthy(url: str, token: str | None = None) -> bool:
    """Whether something answers /healthz on `url` with 200 (which server it is: who_answers)."""
    return who_answers(url, token) is not None


def is_ours(health: dict, pid: int, state_dir: Path) -> bool:
    """The server answering is the one started: its pid, and its state dir however the caller spelled it (the
    server reports it resolved; `make demo` passes `.vertex-local`)."""
    answered = health.get("stateDir")
    return health.get("pid") == pid and isinstance(answered, str) and Path(answered) == state_dir.resolve()


def start(host: str, port: int, state_dir: Path, serve_flags: Sequence[str] = (), token: str | None = None) -> int:
    """Serve in the background (`serve_flags` are passed on to `serve`); returns once /healthz answers.

    `token`: the bearer token the server is given (as $VERTEX_LOCAL_TOKEN) and the health check sends; without one
    the server takes none, whatever this process's environment holds."""
    url = f"http://{host}:{port}"
    if running_pid(state_dir):
        print(f"vertex-local: already running (pid {running_pid(state_dir)}, log {state_dir / 'server.log'})")
        return 0
    command = [sys.executable, "-m", "vertex_local", "serve", "--host", host, "--port", str(port)]
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        log = (state_dir / "server.log").open("ab")
    except OSError as exc:  # read-only, full, not a directory: the server could not keep its state there either
        print(f"vertex-local: cannot keep its state in {state_dir}: {exc.strerror}", file=sys.stderr)
        return 1
    env = {key: value for key, value in os.environ.items() if key != TOKEN_VARIABLE}
    with log:
        server = subprocess.Popen(
            [*command, "--state-dir", str(state_dir), *serve_flags],
            env={**env, TOKEN_VARIABLE: token} if token else env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file(state_dir).write_text(f"{server.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT_S
    while (health := who_answers(url, token)) is None or not is_ours(health, server.pid, state_dir):
        if health is not None:  # an earlier server (or another program) holds the port; ours cannot bind it
            end(server)
            pid_file(state_dir).unlink(missing_ok=True)
            other = f"pid {health.get('pid')!r}, state {health.get('stateDir')!r}" if health else "not vertex-local"
            print(f"vertex-local: did not start: {url} is answered by another server ({other})", file=sys.stderr)
            return 1
        if server.poll() is not None or time.monotonic() > deadline:
            tail = "\n".join((state_dir / "server.log").read_text(errors="replace").splitlines()[-15:])
            print(f"vertex-local: did not start (see {state_dir / 'server.log'}):\n{tail}", file=sys.stderr)
            end(server)
            return 1
        time.sleep(0.1)
    print(f"vertex-local: serving {url} (pid {server.pid}, state {state_dir}, log {state_dir / 'server.log'})")
    return 0


def end(server: subprocess.Popen) -> None:
    """Stop a server this start launched and will not keep, SIGKILL if it does not end: none is left behind."""
    if server.poll() is None:
        server.terminate()
    try:
        server.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def wait_for_exit(pid: int, state_dir: Path, timeout_s: float) -> None:
    """Return once the server has exited, or after timeout_s: woken by the exit itself through a pidfd (Linux
    5.3 and later), else by polling its pid file's process every 0.1 s."""
    try:
        handle = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd here, or the process is gone already
        deadline = time.monotonic() + timeout_s
        while running_pid(state_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        return
    try:
        select.select([handle], [], [], timeout_s)  # readable once the process has ended
    finally:
        os.close(handle)


def stop(state_dir: Path) -> int:
    pid = running_pid(state_dir)
    if pid is None:
        print(f"vertex-local: not running (no live server in {pid_file(state_dir)})")
        pid_file(state_dir).unlink(missing_ok=True)
        return 0
    os.kill(pid, signal.SIGINT)
    wait_for_exit(pid, state_dir, STOP_TIMEOUT_S)
    if running_pid(state_dir):
        print(f"vertex-local: pid {pid} did not stop in {STOP_TIMEOUT_S:.0f} s; killing it", file=sys.stderr)
        os.kill(pid, signal.SIGKILL)
    pid_file(state_dir).unlink(missing_ok=True)
    print(f"vertex-local: stopped (pid {pid})")
    return 0
