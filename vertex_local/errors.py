"""Google-style API errors: handlers raise ApiError, one Starlette handler renders it.

The body is `{"error": {"code": 404, "message": "...", "status": "NOT_FOUND"}}`, which
google-api-core maps to its usual exceptions (404 -> NotFound, 400 -> BadRequest, ...).
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

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
    416: "OUT_OF_RANGE",
    431: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

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


async def internal_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A bug on our side: log the traceback once, answer a Google-shaped 500 without it."""
    logging.getLogger("vertex_local").error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, f"internal error: {type(exc).__name__}: {exc}")
