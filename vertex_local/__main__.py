"""Start vertex-local: python -m vertex_local serve --host 127.0.0.1 --port 8080 --state-dir .vertex-local

In the background instead: python -m vertex_local start ... / python -m vertex_local stop --state-dir DIR.

Point the SDK at it with api_endpoint="http://127.0.0.1:8080", api_transport="rest", AnonymousCredentials,
and STORAGE_EMULATOR_HOST=http://127.0.0.1:8080. Serving limits come from pipeline.toml's [serving] table.
Listening beyond loopback (--host 0.0.0.0) needs a bearer token in $VERTEX_LOCAL_TOKEN (or --token), which
every request must then carry; pipeline.toml's credentials = "token" makes the SDKs send it.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import sqlite3
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import uvicorn

from pipeline_config import ConfigError, Vertex, load_config
from vertex_local import daemon
from vertex_local.app import AppConfig, BucketSpec, build_app
from vertex_local.http.access_log import AccessLog
from vertex_local.http.guard import GuardPolicy, RequestGuard, is_loopback
from vertex_local.http.protocol import guarded_httptools
from vertex_local.state import make_private
from vertex_local.vertex import containers

REPO_ROOT = Path(__file__).resolve().parent.parent
MIN_TOKEN_CHARS = 16  # a token guards a shell on this machine: `python -m secrets`-grade, not a password


STAGING_BUCKET_HELP = (
    "create the profile's [vertex] staging_bucket if it is missing, as bootstrap_gcp.sh does in the cloud"
)
PRELOAD_HELP = "import TensorFlow in the background at start, so that the first deploy does not wait for it"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vertex_local", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the Vertex AI and Cloud Storage API subsets on one port")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--state-dir", type=Path, default=Path(".vertex-local"), help="SQLite state, files, logs")
    serve.add_argument("--profile", default=None, help="pipeline.toml profile for the [serving] limits")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--no-access-log", action="store_true", help="drop the one line per request")
    serve.add_argument("--staging-bucket", action="store_true", help=STAGING_BUCKET_HELP)
    serve.add_argument("--token", help=f"bearer token every request must carry (default: ${daemon.TOKEN_VARIABLE})")
    serve.add_argument("--allow-host", action="append", default=[], help="another name clients may reach it by")
    serve.add_argument("--today", type=datetime.date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                       help="read Google's prebuilt-image dates as on this day (tests; default: today)")  # fmt: skip
    serve.add_argument("--own-image", choices=containers.OWN_IMAGE_MODES, default="in-process",
                       help="serve this repository's serving image in-process (default) or as its own process, "
                       "health-checked and forwarded to, as Vertex runs it")  # fmt: skip
    serve.add_argument("--preload-tensorflow", action="store_true", help=PRELOAD_HELP)
    start = commands.add_parser("start", help="serve in the background; returns once /healthz answers")
    start.add_argument("--host", default="127.0.0.1")
    start.add_argument("--port", type=int, default=8080)
    start.add_argument("--state-dir", type=Path, default=Path(".vertex-local"))
    start.add_argument("--profile", default=None, help="pipeline.toml profile (limits, staging bucket)")
    start.add_argument("--staging-bucket", action="store_true", help=STAGING_BUCKET_HELP)
    start.add_argument("--preload-tensorflow", action="store_true", help=PRELOAD_HELP)
    stop = commands.add_parser("stop", help="stop the background server of a state dir")
    stop.add_argument("--state-dir", type=Path, default=Path(".vertex-local"))
    return parser


def job_environment(environ: dict[str, str], token: str | None) -> dict[str, str]:
    """The environment custom jobs start from: ours, with this interpreter's directory first on PATH, so a job's
    `python` is the project's virtual environment, and the server's bearer token (if any) in VERTEX_LOCAL_TOKEN,
    so a job's storage calls can carry it (trainer/storage.py), as a job on Vertex acts as its service account."""
    python_dir = str(Path(sys.executable).parent)
    environ = {key: value for key, value in environ.items() if key != daemon.TOKEN_VARIABLE}
    return {**environ, "PATH": os.pathsep.join([python_dir, environ.get("PATH", "")])} | (
        {daemon.TOKEN_VARIABLE: token} if token else {}
    )


def own_url(host: str, port: int) -> str:
    """How a process on this machine reaches the server: a wildcard bind is reached over loopback."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def staging_buckets(vertex: Vertex) -> tuple[BucketSpec, ...]:
    """The profile's staging bucket, in the profile's region and project (Vertex wants them together)."""
    name = vertex.staging_bucket.removeprefix("gs://").strip("/")
    if not vertex.staging_bucket.startswith("gs://") or not name or "/" in name:
        raise ConfigError(f"vertex.staging_bucket = {vertex.staging_bucket!r}: expected gs://BUCKET")
    return (BucketSpec(name, vertex.region.upper(), vertex.project),)


def guard_policy(args: argparse.Namespace, environ: Mapping[str, str]) -> GuardPolicy:
    """Who may call the server (vertex_local/http/guard.py); one reachable beyond loopback needs a token."""
    token = args.token or environ.get(daemon.TOKEN_VARIABLE) or None
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"the bearer token is {len(token)} characters; use at least {MIN_TOKEN_CHARS} "
                          "(python -c 'import secrets; print(secrets.token_urlsafe())')")  # fmt: skip
    try:
        policy, loopback = GuardPolicy.for_server(args.host, args.allow_host, token), is_loopback(args.host)
    except ValueError as exc:
        raise ConfigError(f"--host/--allow-host: {exc}") from None
    if token is None and not loopback:
        raise ConfigError(f"--host {args.host} listens beyond this machine: set a bearer token in "
                          f"${daemon.TOKEN_VARIABLE} (or --token) for clients to send")  # fmt: skip
    return policy


def check_writable(state_dir: Path) -> None:
    """OSError unless vertex-local can create files in `state_dir` (creating it, private, if need be)."""
    make_private(state_dir)
    with tempfile.TemporaryFile(dir=state_dir):
        pass


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "start":
        extra = [*(["--profile", args.profile] if args.profile else []), *(["--staging-bucket"] * args.staging_bucket)]
        extra += ["--preload-tensorflow"] * args.preload_tensorflow
        token = os.environ.get(daemon.TOKEN_VARIABLE)
        return daemon.start(args.host, args.port, args.state_dir.resolve(), extra, token)
    if args.command == "stop":
        return daemon.stop(args.state_dir.resolve())
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        cfg = load_config(args.profile)
        buckets = staging_buckets(cfg.vertex) if args.staging_bucket else ()
        policy = guard_policy(args, os.environ)
    except ConfigError as exc:
        print(f"vertex-local: {exc}", file=sys.stderr)
        return 2
    limits = cfg.serving
    config = AppConfig(
        state_dir=args.state_dir.resolve(),
        limits=limits,
        workdir=REPO_ROOT,
        job_env=job_environment(dict(os.environ), policy.token.decode() if policy.token else None),
        storage_url=own_url(args.host, args.port),
        buckets=buckets,
        own_serving_image=cfg.vertex.serving_image if cfg.vertex.serving_image_is_ours else "",
        today=args.today,
        own_image_mode=args.own_image,
        docker=containers.docker_engine(),
        preload_tensorflow=args.preload_tensorflow,
    )
    try:
        check_writable(config.state_dir)
        app = build_app(config)
    except (OSError, sqlite3.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"vertex-local: cannot keep its state in {args.state_dir}: {reason}", file=sys.stderr)
        return 1
    guarded = RequestGuard(app, policy, app.routes)
    access_log = not args.no_access_log and args.log_level in ("debug", "info")
    served = AccessLog(guarded, sys.stderr) if access_log else guarded  # uvicorn's own access log costs 4x as much
    # uvloop and httptools: the fast event loop and HTTP parser, pinned in requirements.txt; httptools
    # with deadlines for heads and bodies still arriving (vertex_local/http/protocol.py).
    uvicorn.run(
        served,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        # No proxy stands before it: uvicorn's X-Forwarded-* middleware (on by default, trusting 127.0.0.1) would
        # let a request rewrite its own scheme and client address, which the guard's Origin check and the access
        # log read, and it wrapped every request (docs/benchmarks.md, "Fifth round").
        proxy_headers=False,
        loop="uvloop",
        http=guarded_httptools(limits),
        timeout_keep_alive=limits.keep_alive_timeout_s,  # type: ignore[arg-type]  # seconds; a float is fine
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
