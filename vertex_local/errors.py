"""Google-style API errors: handlers raise ApiError, one Starlette handler renders it.

The body is `{"error": {"code": 404, "message": "...", "status": "NOT_FOUND"}}`, which
google-api-core maps to its usual exceptions (404 -> NotFound, 400 -> BadRequest, ...).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

# HTTP code -> google.rpc.Code name, as Google's REST front ends write them.
STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    413: "INVALID_ARGUMENT",
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

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> str:
        return STATUS_NAMES.get(self.code, "UNKNOWN")

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def error_response(code: int, message: str) -> JSONResponse:
    return JSONResponse(ApiError(code, message).body(), status_code=code)


async def api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Starlette exception handler for ApiError."""
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.code)


def rpc_status(code_name: str, message: str) -> dict:
    """A google.rpc.Status dict, as operations and jobs carry it in their `error` field."""
    return {"code": RPC_CODES.get(code_name, RPC_CODES["UNKNOWN"]), "message": message}
