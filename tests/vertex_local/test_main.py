"""The command line: serve's config errors, and start/stop (make up / make down) around a real server."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.not_run import NOT_RUN_HERE
from tests.support.own_servers import mount_namespace
from tests.support.vertex_local_server import REPO_ROOT, free_port

NO_TOKEN = {key: value for key, value in os.environ.items() if key != "VERTEX_LOCAL_TOKEN"}


pytestmark = pytest.mark.live  # every test here runs `python -m vertex_local`


def vertex_local(*args: str, timeout: float = 90, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "vertex_local", *args]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def test_an_unknown_profile_is_a_one_line_config_error_with_exit_code_2(tmp_path: Path) -> None:
    result = vertex_local("serve", "--port", str(free_port()), "--state-dir", str(tmp_path), "--profile", "nope")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["vertex-local: unknown profile 'nope' (have: gcp, local)"]


def test_start_serves_in_the_background_until_stop(tmp_path: Path) -> None:
    port, state_dir = free_port(), tmp_path / "state"
    started = vertex_local("start", "--port", str(port), "--state-dir", str(state_dir))
    try:
        assert started.returncode == 0, started.stderr
        assert f"serving http://127.0.0.1:{port}" in started.stdout
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok
        again = vertex_local("start", "--port", str(port), "--state-dir", str(state_dir))
        assert again.returncode == 0 and "already running" in again.stdout
    finally:
        stopped = vertex_local("stop", "--state-dir", str(state_dir))
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not (state_dir / "server.pid").exists()
    assert "Shutting down" in (state_dir / "server.log").read_text()
    assert "not running" in vertex_local("stop", "--state-dir", str(state_dir)).stdout


def test_start_fails_with_the_servers_own_words_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = vertex_local("start", "--port", str(port), "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 1
    assert "did not start" in result.stderr and "address already in use" in result.stderr.lower()


def test_start_fails_in_one_line_when_an_earlier_server_answers_on_its_port(tmp_path: Path) -> None:
    port, first_dir, second_dir = free_port(), tmp_path / "first", tmp_path / "second"
    first = vertex_local("start", "--port", str(port), "--state-dir", str(first_dir))
    try:
        assert first.returncode == 0, first.stderr
        first_pid = int((first_dir / "server.pid").read_text())
        second = vertex_local("start", "--port", str(port), "--state-dir", str(second_dir))
        assert second.returncode == 1 and second.stdout == "", second.stdout
        assert second.stderr.strip().splitlines() == [
            f"vertex-local: did not start: http://127.0.0.1:{port} is answered by another server "
            f"(pid {first_pid}, state {str(first_dir.resolve())!r})"
        ]
        assert not (second_dir / "server.pid").exists()
        health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()  # the first, untouched
        assert health == {"status": "ok", "pid": first_pid, "stateDir": str(first_dir.resolve())}
    finally:
        stopped = vertex_local("stop", "--state-dir", str(first_dir))
    assert stopped.returncode == 0 and f"stopped (pid {first_pid})" in stopped.stdout


@pytest.mark.parametrize(
    "host, token, line",
    [
        ("0.0.0.0", None, "--host 0.0.0.0 listens beyond this machine: set a bearer token in $VERTEX_LOCAL_TOKEN"),
        ("192.0.2.1", None, "--host 192.0.2.1 listens beyond this machine"),
        ("127.0.0.1", "short", "the bearer token is 5 characters; use at least 16"),
    ],
)
def test_serve_beyond_loopback_without_a_token_is_a_one_line_config_error(
    tmp_path: Path, host: str, token: str | None, line: str
) -> None:
    env = {**NO_TOKEN, **({"VERTEX_LOCAL_TOKEN": token} if token else {})}
    result = vertex_local("serve", "--host", host, "--port", str(free_port()), "--state-dir", str(tmp_path), env=env)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"vertex-local: {line}")


def test_start_beyond_loopback_checks_health_with_the_token_until_stop(tmp_path: Path) -> None:
    port, state_dir, token = free_port(), tmp_path / "state", secrets.token_urlsafe()
    env = {**NO_TOKEN, "VERTEX_LOCAL_TOKEN": token}
    started = vertex_local("start", "--host", "0.0.0.0", "--port", str(port), "--state-dir", str(state_dir), env=env)
    try:
        assert started.returncode == 0, started.stderr
        url = f"http://127.0.0.1:{port}/healthz"
        assert requests.get(url, timeout=5).status_code == 401
        assert requests.get(url, headers={"authorization": f"Bearer {token}"}, timeout=5).ok
    finally:
        stopped = vertex_local("stop", "--state-dir", str(state_dir))
    assert stopped.returncode == 0 and "stopped" in stopped.stdout


def read_only_prefix(state_dir: Path) -> list[str] | None:
    """A command prefix under which `state_dir` is read-only: a read-only bind mount in a mount namespace of its
    own (root ignores permission bits), else, for anyone else, the directory's mode (set here)."""
    namespace = mount_namespace()
    if namespace is not None:
        remount = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
        return [*namespace, "sh", "-c", remount, str(state_dir)]
    if os.geteuid() != 0:
        state_dir.chmod(0o555)
        return []
    return None


@pytest.mark.parametrize("command", ["serve", "start"])
def test_a_read_only_state_dir_is_one_clear_line_and_exit_code_1(tmp_path: Path, command: str) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    prefix = read_only_prefix(state_dir)
    if prefix is None:
        pytest.skip(f"{NOT_RUN_HERE} root, and no mount namespace: no way to make a directory read-only for root")
    argv = [*prefix, sys.executable, "-m", "vertex_local", command, "--port", str(free_port())]
    result = subprocess.run([*argv, "--state-dir", str(state_dir)], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=90)  # fmt: skip
    reason = "Read-only file system" if prefix else "Permission denied"
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines() == [f"vertex-local: cannot keep its state in {state_dir}: {reason}"]
