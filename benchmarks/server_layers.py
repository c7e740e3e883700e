"""Server CPU per small download, vertex-local's HTTP stack built up layer by layer (issue 25, fifth round).

    python -m benchmarks.server_layers [--requests 3000] [--turns 3]

Each layer runs as its own server process on loopback; this process is the client (http.client, one keep-alive
connection, GETs of a 4 KiB body), and reads the server's CPU time (all its threads, /proc/PID/task/*/schedstat,
nanoseconds) before and after each round. The layers, each adding to the one before:

    bare        uvicorn (httptools, uvloop, no access log) and a raw ASGI app answering 4 KiB
    protocol    + vertex-local's protocol class (http/protocol.py: connection cap, head/body deadlines) and its
                transport wrapper (http/linger.py: one write per answer, the lingering close)
    log-lines   + the access log (http/access_log.py) making its lines, written to a stream that drops them
    access-log  + writing them: to a file, as the bench's servers' logs go
    guard       + the request guard (http/guard.py: Host, Origin, token, Content-Type)
    headers     + the 13 headers a real download answers with (Cloud Storage's, the inert ones), canned
    starlette   + Starlette's app around it (its error and exception middleware, the router), the canned
                answer as a raw route as gcs/objects.py's DownloadRoute
    real        `python -m vertex_local serve`: the real app, its middleware and a stored 4 KiB object

With --against TREE, one more figure: `real` as another checkout of the repository serves it (the same interpreter,
run from that tree), as a before/after of the same sitting.

The layers run in turn, the order alternating each turn; each figure is the median over turns.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from benchmarks.serve_processes import REPO, free_port

LAYERS = ("bare", "protocol", "log-lines", "access-log", "guard", "headers", "starlette", "real")
BODY = b"x" * 4096
BUCKET, OBJECT = "layers", "small"
PATH = f"/download/storage/v1/b/{BUCKET}/o/{OBJECT}?alt=media"
WARMUP_REQUESTS = 300
DOWNLOAD_PATH = re.compile(r"/download/storage/v1/b/[^/]+/o/.*|/healthz")
# What `real` answers a 4 KiB download with, but the Date and Server uvicorn adds (values of one such answer).
REAL_HEADERS = [
    (b"etag", b"CIHBmr2ewZgDEAE="),
    (b"x-goog-generation", b"1796644540948609"),
    (b"x-goog-metageneration", b"1"),
    (b"x-goog-hash", b"crc32c=mPlBiQ==,md5=Yg8LZ6kff3QVG8W+dFtxEA=="),
    (b"x-goog-stored-content-length", b"4096"),
    (b"x-goog-stored-content-encoding", b"identity"),
    (b"x-goog-storage-class", b"STANDARD"),
    (b"accept-ranges", b"bytes"),
    (b"content-type", b"application/octet-stream"),
    (b"content-security-policy", b"sandbox; default-src 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"content-length", b"4096"),
]


def canned(headers: list[tuple[bytes, bytes]]) -> Callable[..., Awaitable[None]]:
    """An app that answers 4 KiB with these headers and does no work."""

    async def app(scope: dict, receive: object, send: Callable[[dict], Awaitable[None]]) -> None:  # type: ignore[type-arg]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": BODY})

    return app


class DroppingStream:
    """A text stream that keeps nothing: the log-lines layer's, to tell making the lines from writing them."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def starlette_around(answer: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Starlette's app with one raw route (http/raw_route.py, as gcs/objects.py's DownloadRoute) answering `answer`."""
    from starlette.applications import Starlette

    from vertex_local.http.raw_route import RawRoute

    class CannedRoute(RawRoute):
        path, methods = DOWNLOAD_PATH, ("GET", "HEAD")

        async def answer(self, scope: dict, receive: object, send: object) -> None:  # type: ignore[override]
            await answer(scope, receive, send)

    return Starlette(routes=[CannedRoute()])


def serve_layer(layer: str, port: int) -> None:
    """The server side of one layer (bare to starlette); `real` is vertex-local's own command line."""
    import uvicorn

    from pipeline_config import load_config
    from vertex_local.http.access_log import AccessLog
    from vertex_local.http.guard import GuardPolicy, RequestGuard
    from vertex_local.http.protocol import guarded_httptools

    limits = load_config(None).serving
    index = LAYERS.index(layer)
    plain = [(b"content-type", b"application/octet-stream"), (b"content-length", b"4096")]
    app = canned(REAL_HEADERS if index >= LAYERS.index("headers") else plain)
    if index >= LAYERS.index("starlette"):
        app = starlette_around(app)
    if index >= LAYERS.index("guard"):
        app = RequestGuard(app, GuardPolicy.for_server("127.0.0.1", [], None), [])  # type: ignore[arg-type]
    if index >= LAYERS.index("log-lines"):
        app = AccessLog(app, DroppingStream() if layer == "log-lines" else sys.stderr)  # type: ignore[arg-type]
    protocol = "httptools" if layer == "bare" else guarded_httptools(limits)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info", access_log=False, loop="uvloop", http=protocol)


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of a process, in nanoseconds (schedstat's first field)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a thread that ended meanwhile
            total += int((task / "schedstat").read_text().split()[0])
    return total


def wait_ready(port: int, process: subprocess.Popen) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server-layers: a server exited ({process.returncode})")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server-layers: a server did not start")


def store_object(port: int) -> None:
    """The bucket and the 4 KiB object the real server's downloads read (Cloud Storage's JSON API)."""
    connection = http.client.HTTPConnection("127.0.0.1", port)
    json = {"content-type": "application/json"}
    connection.request("POST", "/storage/v1/b?project=bench", body=f'{{"name": "{BUCKET}"}}', headers=json)
    assert connection.getresponse().read() and True
    media = {"content-type": "application/octet-stream"}
    connection.request("POST", f"/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={OBJECT}", BODY, media)
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        raise SystemExit(f"server-layers: upload answered {response.status}")
    connection.close()


def downloads(port: int, count: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(count):
        connection.request("GET", PATH)
        response = connection.getresponse()
        if len(response.read()) != len(BODY) or response.status != 200:
            raise SystemExit(f"server-layers: a download answered {response.status}")
    connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--against", type=Path, help="another checkout whose real server to measure beside this one's")
    parser.add_argument("--serve", choices=LAYERS[:-1], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_layer(args.serve, args.port)
        return 0
    runs = [*LAYERS, *(["real (--against)"] if args.against else [])]
    figures: dict[str, list[float]] = {layer: [] for layer in runs}
    with tempfile.TemporaryDirectory() as scratch:
        servers: dict[str, tuple[int, subprocess.Popen]] = {}  # type: ignore[type-arg]
        try:
            for number, layer in enumerate(runs):
                port, tree = free_port(), args.against if layer == "real (--against)" else REPO
                if layer.startswith("real"):
                    command = [sys.executable, "-m", "vertex_local", "serve", "--port", str(port)]
                    command += ["--state-dir", str(Path(scratch) / f"vl{number}")]
                else:
                    command = [sys.executable, "-m", "benchmarks.server_layers", "--serve", layer, "--port", str(port)]
                log = (Path(scratch) / f"{number}.log").open("ab")
                servers[layer] = port, subprocess.Popen(command, cwd=tree, stdout=log, stderr=log)
            for layer, (port, process) in servers.items():
                wait_ready(port, process)
                if layer.startswith("real"):
                    store_object(port)
                downloads(port, WARMUP_REQUESTS)
            for turn in range(args.turns):
                for layer in runs if turn % 2 == 0 else runs[::-1]:
                    port, process = servers[layer]
                    before = cpu_ns(process.pid)
                    downloads(port, args.requests)
                    figures[layer].append((cpu_ns(process.pid) - before) / 1000 / args.requests)
        finally:
            for _, process in servers.values():
                process.terminate()
                process.wait(timeout=30)
    print(f"server CPU per 4 KiB download, us (median of {args.turns} turns of {args.requests}; each turn)")
    previous = None
    for layer in runs:
        median = statistics.median(figures[layer])
        step = "" if previous is None else f"  {median - previous:+6.1f}"
        print(f"{layer:<16} {median:7.1f}{step}   " + " ".join(f"{value:.1f}" for value in figures[layer]))
        previous = median
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
