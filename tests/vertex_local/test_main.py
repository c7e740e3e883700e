"""The command line: serve's config errors, and start/stop (make up / make down) around a real server."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import requests

from tests.conftest import REPO_ROOT, free_port


def vertex_local(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "vertex_local", *args]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)


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
