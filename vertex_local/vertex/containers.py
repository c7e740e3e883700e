"""Serving containers: deployed models served by their image's own server, started as Vertex starts them.

Vertex runs a Model's image with the custom-container contract's environment, waits for AIP_HEALTH_ROUTE to answer
200 before the deploy completes, and sends predict bodies to AIP_PREDICT_ROUTE ("Custom container requirements for
inference", https://cloud.google.com/vertex-ai/docs/predictions/custom-container-requirements). vertex-local does the
same for
- this repository's serving image when `serve --own-image subprocess` asks for it (the default, in-process, loads
  the model through the same classes without a hop): `python -m vertex_local.serving.container`;
- any other custom image where a Docker engine answers `docker info`: `docker run` on the host's network (the
  container reaches vertex-local's storage at 127.0.0.1 and listens on the AIP_HTTP_PORT given to it).
AIP_STORAGE_URI is the version's artifactUri in vertex-local's storage (Vertex hands a copy it made; the container
copies the objects at start, so later writes to the bucket do not change what serves). Each container leads its
own process group, recorded under <state dir>/containers/, so a restart stops what a crash left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vertex_local.serving.forward import Forwarder
from vertex_local.vertex import runtimes
from vertex_local.vertex.jobs import process_groups

OWN_IMAGE_MODES = ("in-process", "subprocess")
HEALTH_TIMEOUT_S = 180.0  # TensorFlow's import and a model's load take seconds; a hung container fails the deploy
HEALTH_POLL_S = 0.1
STOP_GRACE_S = 10.0  # SIGTERM, then SIGKILL: uvicorn finishes the requests in flight
MARKER = "VERTEX_LOCAL_CONTAINER"  # in each container's environment: recognises its processes after a crash
DOCKER_LABEL = "vertex-local.container"


def docker_engine() -> bool:
    """Whether a Docker engine answers here (GitHub's Ubuntu runners have one; this laptop may not)."""
    if shutil.which("docker") is None:
        return False
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Containers:
    """The running serving containers by deployed model id, and their forwarders (read by :predict)."""

    def __init__(self, root: Path, storage_url: str, workdir: Path, environ: Mapping[str, str], own_image: str,
                 own_mode: str = "in-process", docker: bool = False) -> None:  # fmt: skip
        self.root = root
        self.storage_url = storage_url
        self.workdir = workdir
        self.environ = dict(environ)
        self.own_image = own_image
        self.own_mode = own_mode
        self.docker = docker
        self.forwarders: dict[str, Forwarder] = {}
        self.processes: dict[str, subprocess.Popen] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        root.mkdir(parents=True, exist_ok=True)

    def runs(self, container_spec: Any) -> str | None:
        """How a Model's image runs as a container here: "subprocess", "docker", or None (in-process/prebuilt)."""
        image = container_spec.get("imageUri", "") if isinstance(container_spec, dict) else ""
        if runtimes.is_own_image(image, self.own_image):
            return "subprocess" if self.own_mode == "subprocess" else None
        if self.docker and image and runtimes.PREBUILT.fullmatch(image) is None:
            return "docker"
        return None

    def launch_spec(self, how: str, container_spec: dict[str, Any], endpoint_id: str) -> dict[str, Any]:
        """What the endpoint stores to start the container again after a restart."""
        routes = f"/v1/endpoints/{endpoint_id}/deployedModels/{{id}}"  # Vertex's defaults when the Model sets none
        return {"how": how, "imageUri": container_spec["imageUri"], "endpointId": endpoint_id,
                "predictRoute": container_spec.get("predictRoute") or routes + ":predict",
                "healthRoute": container_spec.get("healthRoute") or routes,
                "command": [str(part) for part in container_spec.get("command") or []],
                "args": [str(part) for part in container_spec.get("args") or []],
                "env": {str(var["name"]): str(var.get("value", "")) for var in container_spec.get("env") or []
                        if isinstance(var, dict) and var.get("name")}}  # fmt: skip

    def start(self, deployed_id: str, spec: dict[str, Any], storage_uri: str) -> None:
        """Start the container and wait for its health route; blocking. ValueError with its one line if it fails."""
        self.stop(deployed_id)
        port = free_port()
        routes = {key: spec[key].replace("{id}", deployed_id) for key in ("predictRoute", "healthRoute")}
        env = {**spec["env"], "AIP_HTTP_PORT": str(port), "AIP_PREDICT_ROUTE": routes["predictRoute"],
               "AIP_HEALTH_ROUTE": routes["healthRoute"], "AIP_STORAGE_URI": storage_uri,
               "AIP_ENDPOINT_ID": spec["endpointId"], "AIP_DEPLOYED_MODEL_ID": deployed_id,
               "STORAGE_EMULATOR_HOST": self.storage_url, MARKER: deployed_id}  # fmt: skip
        log_path = self.root / f"{deployed_id}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(self.command(deployed_id, spec, env), cwd=self.workdir, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True,
                                       env={**self.environ, **env})  # fmt: skip
        self.processes[deployed_id] = process
        (self.root / f"{deployed_id}.json").write_text(json.dumps(process_groups.record(deployed_id, process.pid)))
        try:
            wait_healthy(process, port, routes["healthRoute"], log_path)
        except ValueError:
            self.stop(deployed_id)
            raise
        self.forwarders[deployed_id] = Forwarder(port, routes["predictRoute"], deployed_id)

    def command(self, deployed_id: str, spec: dict[str, Any], env: dict[str, str]) -> list[str]:
        if spec["how"] == "subprocess":
            return [sys.executable, "-m", "vertex_local.serving.container", "--host", "127.0.0.1", *spec["args"]]
        entrypoint = ["--entrypoint", spec["command"][0]] if spec["command"] else []
        return ["docker", "run", "--rm", "--network", "host", "--name", docker_name(deployed_id),
                "--label", f"{DOCKER_LABEL}={self.root}", *[f"--env={key}" for key in env], *entrypoint,
                spec["imageUri"], *spec["command"][1:], *spec["args"]]  # fmt: skip

    def stop(self, deployed_id: str) -> None:
        """Stop a container and forget it; safe from any thread, and for one not running."""
        forwarder = self.forwarders.pop(deployed_id, None)
        if forwarder is not None and self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(forwarder.close)
        process = self.processes.pop(deployed_id, None)
        if process is not None:
            if process.args[0] == "docker":
                subprocess.run(["docker", "rm", "-f", docker_name(deployed_id)], capture_output=True, check=False)
            stop_group(process)
        (self.root / f"{deployed_id}.json").unlink(missing_ok=True)

    def stop_all(self) -> None:
        for deployed_id in list(self.processes):
            self.stop(deployed_id)

    def sweep(self) -> int:
        """After a crash: stop every recorded container still running; returns how many processes were stopped."""
        stopped = 0
        for record in self.root.glob("*.json"):
            with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
                saved = json.loads(record.read_text())
                stopped += process_groups.stop_leftovers([saved] if saved else [], record.stem, MARKER)
            record.unlink(missing_ok=True)
        if self.docker:
            listed = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={DOCKER_LABEL}={self.root}"],
                                    capture_output=True, text=True, check=False)  # fmt: skip
            if listed.stdout.split():
                subprocess.run(["docker", "rm", "-f", *listed.stdout.split()], capture_output=True, check=False)
        return stopped


def docker_name(deployed_id: str) -> str:
    return f"vertex-local-{os.getpid()}-{deployed_id}"


def wait_healthy(process: subprocess.Popen, port: int, route: str, log_path: Path) -> None:
    """Return once GET route answers 200; ValueError with the container's last line if it exits or never does."""
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ValueError(f"its serving container exited with code {process.returncode} before it was healthy: "
                             f"{last_line(log_path)}")  # fmt: skip
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        with contextlib.suppress(OSError, http.client.HTTPException):
            connection.request("GET", route)
            if connection.getresponse().status == 200:
                connection.close()
                return
        connection.close()
        time.sleep(HEALTH_POLL_S)
    raise ValueError(f"its serving container did not answer 200 on {route} within {HEALTH_TIMEOUT_S:.0f} s: "
                     f"{last_line(log_path)}")  # fmt: skip


def last_line(log_path: Path) -> str:
    """The container's last words: its one `serving: ...` line when it refused to start."""
    lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    found = next((line for line in reversed(lines) if line.startswith("serving: ")), lines[-1] if lines else "")
    return " ".join(found.split())[:500] or "(it wrote nothing)"


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the container's process group, SIGKILL what is left after the grace period, reap the leader."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(STOP_GRACE_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
