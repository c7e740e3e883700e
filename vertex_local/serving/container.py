"""The serving image's server, Vertex's custom-container contract: python -m vertex_local.serving.container

Rules, from Google's "Custom container requirements for inference"
(https://cloud.google.com/vertex-ai/docs/predictions/custom-container-requirements):
- listen on 0.0.0.0:$AIP_HTTP_PORT (the first of containerSpec.ports; 8080 when none is given);
- GET $AIP_HEALTH_ROUTE answers 200 only once the model is loaded and ready for traffic (503 before);
- POST $AIP_PREDICT_ROUTE takes {"instances": [...], "parameters": {...}} and answers {"predictions": [...]};
- the model is the copy of the Model's artifactUri that Vertex names in $AIP_STORAGE_URI (serving/artifact.py);
- request bodies are at most 1.5 MB, as Vertex's front end allows.
The predict path is vertex-local's own: InstancesParser (simdjson/orjson), ModelServer's dynamic batcher, and
ServingMetrics at GET /metrics; vertex-local serves the same image's models in-process through the same classes
(docs/serving.md). `parameters` is accepted and unused: the model takes none.

Startup failures (no AIP_STORAGE_URI, a port already taken, storage that cannot be reached, a folder that is not a
servable SavedModel) end the process with one line on stderr: exit 2 for the environment, 1 for the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import errno
import os
import socket
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import orjson
from starlette.types import Receive, Scope, Send

from pipeline_config import ConfigError, Serving, load_config
from vertex_local.errors import ApiError
from vertex_local.http.bodies import ClientGone, read_body
from vertex_local.serving import artifact
from vertex_local.serving.instances import InstancesParser
from vertex_local.serving.model_server import ModelServer
from vertex_local.serving.prometheus import ServingMetrics

DEFAULT_PORT = 8080  # the contract's AIP_HTTP_PORT when containerSpec.ports is empty
DEFAULT_HEALTH_ROUTE = "/health"  # Vertex always sets both routes; these are for running the image by hand
DEFAULT_PREDICT_ROUTE = "/predict"
METRICS_ROUTE = "/metrics"
MODEL_ID = "model"  # the one model of this server, as ModelServer names it
JSON = [(b"content-type", b"application/json")]


class ContainerError(Exception):
    """A startup failure: one line for stderr, and the exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclasses.dataclass(frozen=True)
class ContainerEnv:
    """The AIP_* variables the contract sets."""

    port: int
    health_route: str
    predict_route: str
    storage_uri: str
    endpoint_id: str
    deployed_model_id: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ContainerEnv:
        storage_uri = environ.get("AIP_STORAGE_URI", "")
        if not storage_uri:
            raise ContainerError("AIP_STORAGE_URI is not set: it names the gs:// folder of the model to serve", 2)
        port_text = environ.get("AIP_HTTP_PORT", str(DEFAULT_PORT))
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ContainerError(f"AIP_HTTP_PORT={port_text!r} is not a TCP port (1-65535)", 2)
        defaults = {"AIP_HEALTH_ROUTE": DEFAULT_HEALTH_ROUTE, "AIP_PREDICT_ROUTE": DEFAULT_PREDICT_ROUTE}
        routes = {key: environ.get(key) or default for key, default in defaults.items()}
        for key, route in routes.items():
            if not route.startswith("/"):
                raise ContainerError(f"{key}={route!r} is not an HTTP path (it must start with /)", 2)
        if routes["AIP_HEALTH_ROUTE"] == routes["AIP_PREDICT_ROUTE"]:
            raise ContainerError(f"AIP_HEALTH_ROUTE and AIP_PREDICT_ROUTE are both {routes['AIP_HEALTH_ROUTE']}", 2)
        return cls(int(port_text), routes["AIP_HEALTH_ROUTE"], routes["AIP_PREDICT_ROUTE"], storage_uri,
                   environ.get("AIP_ENDPOINT_ID", "local"), environ.get("AIP_DEPLOYED_MODEL_ID", MODEL_ID))  # fmt: skip


class ContainerApp:
    """Raw ASGI, like vertex-local's PredictRoute: three exact paths, no router on the hot path."""

    def __init__(self, env: ContainerEnv, limits: Serving) -> None:
        self.env = env
        self.limits = limits
        self.server = ModelServer(limits)
        self.parser = InstancesParser(limits)  # the event loop's thread only
        self.metrics = ServingMetrics()
        self.ready = False
        self.too_big = ApiError(400, f"Request payload size exceeds the limit: {limits.max_body_bytes} bytes.")

    async def load(self, model_dir: Path) -> None:
        """Load and warm the model off the event loop; health answers 200 from then on."""
        await asyncio.to_thread(self.server.load, MODEL_ID, model_dir)
        self.ready = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            status, body = await self.answer(scope, receive)
        except ApiError as exc:
            status, body = exc.code, orjson.dumps(exc.body())
        except ClientGone:
            return
        headers = [*JSON, (b"content-length", str(len(body)).encode())]
        if scope["path"] == METRICS_ROUTE and status == 200:
            headers[0] = (b"content-type", b"text/plain; version=0.0.4; charset=utf-8")
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def answer(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        path, method = scope["path"], scope["method"]
        if path == self.env.predict_route:
            allowed = "POST"
            if method == "POST":
                return 200, await self.predict(await read_body(scope, receive, self.limits.max_body_bytes,
                                                               self.too_big))  # fmt: skip
        elif path in (self.env.health_route, METRICS_ROUTE):
            allowed = "GET"
            if method in ("GET", "HEAD"):
                if path == METRICS_ROUTE:
                    return 200, self.metrics.scrape()
                if not self.ready:
                    raise ApiError(503, "the model is still loading")
                return 200, b"{}"
        else:
            raise ApiError(404, f"{path} is not a route of this server: predict is POST {self.env.predict_route}")
        raise ApiError(405, f"{method} {path}: this route answers {allowed} only")

    async def predict(self, body: bytes) -> bytes:
        started = time.perf_counter()
        try:
            if not self.ready:
                raise ApiError(503, "the model is still loading")
            instances = self.parser.parse(body, self.server.input_of(MODEL_ID))  # the model's own input shape
            predictions = await self.server.predict(MODEL_ID, instances)
        except Exception:
            self.metrics.observe(self.env.endpoint_id, self.env.deployed_model_id, 0, time.perf_counter() - started,
                                 True)  # fmt: skip
            raise
        self.metrics.observe(self.env.endpoint_id, self.env.deployed_model_id, len(predictions),
                             time.perf_counter() - started, False)  # fmt: skip
        return orjson.dumps({"predictions": predictions}, option=orjson.OPT_SERIALIZE_NUMPY)


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the model loads: a taken port fails the start at once."""
    try:
        return socket.create_server((host, port), backlog=2048)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ContainerError(f"port {port} on {host} is already in use") from None
        raise ContainerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


async def serve(env: ContainerEnv, limits: Serving, host: str, environ: Mapping[str, str]) -> None:
    """Listen, then copy and load the model while health says 503; serve until a signal. ContainerError on failure."""
    import uvicorn

    from vertex_local.http.protocol import guarded_httptools

    sock = listen(host, env.port)
    app = ContainerApp(env, limits)
    # proxy_headers off: uvicorn's X-Forwarded-For middleware would wrap every request for a client address
    # this server never reads (it keeps no access log).
    config = uvicorn.Config(app, lifespan="off", access_log=False, log_level="warning", proxy_headers=False,
                            http=guarded_httptools(limits), timeout_keep_alive=limits.keep_alive_timeout_s)  # type: ignore[arg-type]  # fmt: skip
    server = uvicorn.Server(config)
    await app.server.start()
    with tempfile.TemporaryDirectory(prefix="model-") as scratch:
        loading = asyncio.create_task(copy_and_load(app, env.storage_uri, Path(scratch) / "model", environ))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        await asyncio.wait({loading, serving}, return_when=asyncio.FIRST_COMPLETED)
        if loading.done() and loading.exception() is not None:
            server.should_exit = True
            await serving
            await app.server.close()
            raise loading.exception()  # type: ignore[misc]
        await serving
        loading.cancel()
        await app.server.close()


async def copy_and_load(app: ContainerApp, storage_uri: str, dest: Path, environ: Mapping[str, str]) -> None:
    try:
        client = artifact.storage_client(environ)
        model_dir = await asyncio.to_thread(artifact.copy_model, storage_uri, dest, client)
        await app.load(model_dir)
    except artifact.ArtifactError as exc:
        raise ContainerError(str(exc)) from None
    except (ValueError, OSError) as exc:  # ModelServer.load: not a SavedModel, not the contract's signature
        raise ContainerError(f"AIP_STORAGE_URI {storage_uri} is not a servable model: {one_line(exc)}") from None
    print(f"serving: model from {storage_uri} loaded; ready on port {app.env.port}", file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="0.0.0.0", help="address to bind (the contract's 0.0.0.0 by default)")
    parser.add_argument("--profile", default=None, help="pipeline.toml profile for the [serving] limits")
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    environ = os.environ if environ is None else environ
    try:
        env = ContainerEnv.from_environ(environ)
        limits = load_config(args.profile, environ).serving
        import uvloop

        uvloop.run(serve(env, limits, args.host, environ))
    except ConfigError as exc:
        print(f"serving: config: {exc}", file=sys.stderr)
        return 2
    except ContainerError as exc:
        print(f"serving: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
