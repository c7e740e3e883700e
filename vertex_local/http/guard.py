"""Who may drive vertex-local: every request's Host, Origin, bearer token and Content-Type, checked first.

vertex-local runs custom jobs' commands on the machine it serves, so whoever can send it requests can run
programs there. Any web page the user visits can: a "simple" cross-origin POST (Content-Type text/plain, no
CORS preflight) goes straight from the page, and DNS rebinding (the page's own host name re-pointed at
127.0.0.1) lets it send anything and read the answers. Browsers always name the page's origin and the host
they think they reach, so every request passes these checks before any route sees it:

    Host           must name loopback (127.0.0.1, localhost, [::1]) or what --host / --allow-host set (403)
    Origin         when present, must be the server's own: the console at /console/ is same-origin (403)
    Authorization  with a token (--token / VERTEX_LOCAL_TOKEN): `Bearer <token>` on every request, compared
                   in constant time (401); required when the server listens beyond loopback. Only GETs of
                   the console's page and static files go without it: a browser cannot add a header to the
                   page it opens, they hold no data, and every request the page makes carries the token
    Content-Type   a body sent to a JSON route must be application/json, as the SDKs send it (415);
                   /upload/ routes take their own types (media, multipart/related, resumable chunks)
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import re
from collections.abc import Iterable, Sequence

import orjson
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from vertex_local.errors import ApiError
from vertex_local.http.protocol import UPLOAD_PREFIX

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # DELETE and GET bodies mean nothing to any route
JSON_TYPE = b"application/json"
UNAUTHENTICATED_HEADERS = [(b"www-authenticate", b'Bearer realm="vertex-local"')]
CONSOLE_PAGE = ("/console", "/console/")
CONSOLE_FILES = "/console/static/"
HOST_HEADER = re.compile(r"(?:\[(?P<ipv6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9._~-]+))(?::[0-9]{1,5})?")
# Headers a request may carry once: with two, which one a check read and which one a route acts on could differ.
SINGLE_HEADERS = {b"host": "Host", b"origin": "Origin", b"authorization": "Authorization",
                  b"content-type": "Content-Type"}  # fmt: skip


def is_console_page(scope: Scope) -> bool:
    """The console's page and its static files: what a browser loads before the page can send the token."""
    path = scope["path"]
    return scope["method"] in ("GET", "HEAD") and (path in CONSOLE_PAGE or path.startswith(CONSOLE_FILES))


def host_name(host: str) -> str | None:
    """The name in a Host header, lowercased, without port or IPv6 brackets; None when it is not `host[:port]`.

    Strict, as RFC 9110 section 7.2 and RFC 3986 section 3.2.2 write it: a bracketed IPv6 literal or a name of
    name characters, then nothing but an optional port. `[::1].evil.test` is neither, so it is no loopback name.
    """
    match = HOST_HEADER.fullmatch(host.lower())
    return None if match is None else (match["ipv6"] or match["name"])


def configured_name(host: str) -> str:
    """A --host or --allow-host value as host_name() writes it: an address (bare IPv6 too) or `host[:port]`."""
    bare = host.strip().lower()
    try:
        return str(ipaddress.ip_address(bare.removeprefix("[").removesuffix("]")))
    except ValueError:
        pass
    name = host_name(bare)
    if name is None:
        raise ValueError(f"{host!r} is not a host name or address")
    return name


def is_loopback(host: str) -> bool:
    """Whether an address to bind reaches only this machine."""
    name = configured_name(host)
    try:
        return name == "localhost" or ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


@dataclasses.dataclass(frozen=True)
class GuardPolicy:
    hosts: frozenset[str]  # names the Host header may carry, as host_name() writes them
    token: bytes | None  # the bearer token every request must carry, if any

    @classmethod
    def for_server(cls, bind_host: str, allowed_hosts: Iterable[str], token: str | None) -> GuardPolicy:
        names = LOOPBACK_NAMES | {configured_name(host) for host in (bind_host, *allowed_hosts)}
        return cls(frozenset(names), token.encode() if token else None)


class RequestGuard:
    """ASGI middleware: refuses, in Google's error shape, any request that fails the checks above."""

    def __init__(self, app: ASGIApp, policy: GuardPolicy, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.policy = policy
        self.routes = routes  # to tell a JSON route from an unknown path, which stays the app's 404

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(scope)
            if refusal is not None:
                await send_error(send, refusal)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> ApiError | None:
        """The error a request is refused with, or None when it may go on to its route."""
        single: dict[bytes, bytes] = {}
        has_body = False
        for name, value in scope["headers"]:
            if name in SINGLE_HEADERS:
                if name in single:
                    return ApiError(400, f"the request has more than one {SINGLE_HEADERS[name]} header")
                single[name] = value
            elif name == b"content-length":
                has_body = value.strip() != b"0"
            elif name == b"transfer-encoding":
                has_body = True
        host, origin = single.get(b"host"), single.get(b"origin")
        authorization, content_type = single.get(b"authorization"), single.get(b"content-type")
        if host is None:
            return ApiError(400, "the request has no Host header; vertex-local answers requests that name it")
        name = host_name(host.decode("latin-1"))
        if name is None:
            return ApiError(400, f"the Host header {host.decode('latin-1')!r} is not a host name with an optional port")
        if name not in self.policy.hosts:
            allowed = ", ".join(sorted(self.policy.hosts))
            return ApiError(403, f"vertex-local does not answer to the host {host.decode('latin-1')!r}, only to "
                                 f"{allowed} (see --host and --allow-host)")  # fmt: skip
        own_origin = f"{scope['scheme']}://".encode() + host
        if origin is not None and origin.lower() != own_origin.lower():
            return ApiError(403, f"requests from web pages at {origin.decode('latin-1')!r} are refused; only "
                                 f"vertex-local's own pages ({own_origin.decode('latin-1')}) may call it")  # fmt: skip
        if self.policy.token is not None and not self.bearer_matches(authorization) and not is_console_page(scope):
            return ApiError(401, "vertex-local was started with a token: send `Authorization: Bearer <token>`")
        if has_body and scope["method"] in BODY_METHODS and not scope["path"].startswith(UPLOAD_PREFIX):
            media_type = (content_type or b"").split(b";", 1)[0].strip().lower()
            if media_type != JSON_TYPE and self.has_route(scope):
                sent = repr(content_type.decode("latin-1")) if content_type else "none"
                return ApiError(415, f"{scope['method']} {scope['path']} takes a body of Content-Type "
                                     f"application/json; this one's is {sent}")  # fmt: skip
        return None

    def bearer_matches(self, authorization: bytes | None) -> bool:
        scheme, _, credentials = (authorization or b"").partition(b" ")
        # compare_digest takes as long whatever the token's first differing byte: no timing oracle.
        return hmac.compare_digest(credentials.strip(), self.policy.token or b"") and scheme.lower() == b"bearer"

    def has_route(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] is Match.FULL for route in self.routes)


async def send_error(send: Send, error: ApiError) -> None:
    """The refusal, without reading the body: uvicorn drops the rest, or closes gently (http/linger.py)."""
    body = orjson.dumps(error.body())
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if error.code == 401:
        headers += UNAUTHENTICATED_HEADERS
    await send({"type": "http.response.start", "status": error.code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
