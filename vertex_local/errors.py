"""Google-style API errors: handlers raise ApiError, one Starlette handler renders it.

The body is `{"error": {"code": 404, "message": "...", "status": "NOT_FOUND"}}`, which
google-api-core maps to its usual exceptions (404 -> NotFound, 400 -> BadRequest, ...).
"""

from __future__ import annotations

import errno
import logging
import sqlite3

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

LOG = logging.getLogger("vertex_local")

# HTTP code -> google.rpc.Code name, as Google's REST front ends write them.
STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "DEADLINE_EXCEEDED",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",  # google.rpc has no code of its own for a wrong Content-Type
    416: "OUT_OF_RANGE",
    431: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# A full disk, as a file write (or a quota) reports it; SQLite reports SQLITE_FULL.
FULL_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
FULL_DISK_MESSAGE = "no space left on the disk holding vertex-local's state: free some space, then retry"

# google.rpc.Code numbers, for errors carried inside long-running operations and jobs.
RPC_CODES: dict[str, int] = {
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
}


class ApiError(Exception):
    """An error the API answers with: HTTP status code and a message for the caller."""

    def __init__(self, code: int, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # Google answers some 400s as FAILED_PRECONDITION rather than INVALID_ARGUMENT.
        self.status = status or STATUS_NAMES.get(code, "UNKNOWN")

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def error_response(code: int, message: str) -> JSONResponse:
    return JSONResponse(ApiError(code, message).body(), status_code=code)


async def api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Starlette exception handler for ApiError."""
    if not isinstance(exc, ApiError):
        raise TypeError(f"api_error_handler got {type(exc).__name__}") from exc
    return JSONResponse(exc.body(), status_code=exc.code)


async def http_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own 404/405 (unknown paths, wrong methods) in the same Google shape."""
    code = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", "") or "error"
    if code == 404:
        detail = f"no such resource or method: {request.method} {request.url.path}"
    return error_response(code, detail)


def rpc_status(code_name: str, message: str) -> dict:
    """A google.rpc.Status dict, as operations and jobs carry it in their `error` field."""
    return {"code": RPC_CODES.get(code_name, RPC_CODES["UNKNOWN"]), "message": message}


async def client_gone_handler(request: Request, exc: Exception) -> Response:
    """The client went away (or http/protocol.py dropped its stalled body) before the request was read: no one
    is listening, so answer nothing and log no traceback."""
    logging.getLogger("vertex_local").info("client gone before its request arrived: %s %s", request.method,
                                           request.url.path)  # fmt: skip
    return Response(status_code=499)


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether `exc`, or what caused it, is a full disk: any store's file write, or SQLite's."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in FULL_DISK_ERRNOS:
            return True
        if isinstance(exc, sqlite3.Error) and (
            getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
        ):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


async def internal_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Whatever a route did not turn into an ApiError. app.py registers it for OSError and sqlite3.Error as well
    as Exception, so those are answered here without Starlette re-raising them to uvicorn. A full disk, whichever
    store hit it, is a 503 the client retries once there is room: the machine's state, not a bug, so one log
    line. Anything else is a bug: its traceback is logged once, and the 500 carries neither the traceback nor
    the exception's text, which may name the server's files."""
    if is_disk_full(exc):
        LOG.warning("%s %s: 503, the disk holding the state is full", request.method, request.url.path)
        return error_response(503, FULL_DISK_MESSAGE)
    LOG.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, f"vertex-local failed on this request ({type(exc).__name__}); its log has the details")
