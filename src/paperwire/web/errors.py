"""One error shape: `{"error": {"code", "message"}}` for the API and feeds, the same on an HTML page.

Every message says what happened and what to do next.
"""

from __future__ import annotations

import logging
from typing import cast

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from paperwire.errors import ConfigError, InputError, NotFoundError, PaperwireError, RemoteError

log = logging.getLogger("paperwire.web")

CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 413: "too_large", 422: "invalid_input", 429: "rate_limited",
    500: "internal_error", 502: "remote_failed", 503: "unavailable",
}  # fmt: skip
LIBRARY_CODES: dict[type[PaperwireError], str] = {
    InputError: "invalid_input", NotFoundError: "not_found", ConfigError: "server_config",
    RemoteError: "remote_failed",
}  # fmt: skip
MACHINE_PREFIXES = ("/api/", "/feeds/")
MACHINE_PATHS = {"/healthz", "/digest/feed"}  # exactly: /digest/feedback is a page for people


class WebError(Exception):
    """An error the web layer raises itself (rate limit, CSRF, admin token)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_payload(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_payload(code, message), status_code=status, headers=headers)


def _respond(request: Request, status: int, code: str, message: str, headers: dict[str, str]) -> Response:
    """JSON for machine endpoints, the error page for people."""
    path = request.url.path
    if path.startswith(MACHINE_PREFIXES) or path in MACHINE_PATHS or not hasattr(request.app.state, "web"):
        return error_response(status, code, message, headers)
    response: Response = request.app.state.web.templates.TemplateResponse(
        request, "error.html", {"status": status, "code": code, "message": message}, status_code=status
    )
    response.headers.update(headers)
    return response


def _library_error(request: Request, exc: Exception) -> Response:
    error = cast(PaperwireError, exc)
    status = 422 if isinstance(error, InputError) else error.status  # like any invalid parameter
    code = next((c for kind, c in LIBRARY_CODES.items() if isinstance(exc, kind)), None)
    code = code or CODES.get(status, "error")  # others by their status: a spent link is "forbidden"
    message = f"{error.message}; {error.hint}" if error.hint else error.message
    return _respond(request, status, code, message, {})


def _web_error(request: Request, exc: Exception) -> Response:
    error = cast(WebError, exc)
    return _respond(request, error.status, error.code, error.message, error.headers)


def _http_error(request: Request, exc: Exception) -> Response:
    error = cast(HTTPException, exc)
    status = error.status_code
    if status == 404 and error.detail == "Not Found":
        message = f"nothing at {request.url.path}; check the address, or start from / or /api/v1/docs"
    elif status == 400 and error.detail == "There was an error parsing the body":  # FastAPI's words
        message = "the request body is not valid JSON; send a JSON object as /api/v1/docs describes"
    elif status == 405:
        message = f"{request.method} is not allowed at {request.url.path}; /api/v1/docs lists each method"
    else:
        message = str(error.detail)
    return _respond(request, status, CODES.get(status, "error"), message, dict(error.headers or {}))


def _validation_error(request: Request, exc: Exception) -> Response:
    error = cast(RequestValidationError, exc)
    problems = "; ".join(
        f"{'.'.join(str(part) for part in err['loc'] if part not in ('query', 'path', 'body'))}: {err['msg']}"
        for err in error.errors()
    )
    return _respond(request, 422, "invalid_input", f"{problems}; fix these parameters (see /api/v1/docs)", {})


def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        500, "internal_error", "something went wrong on the server; try again, and if it persists "
        "tell the operator (the server log has the details)",
    )  # fmt: skip


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through the one shape."""
    app.add_exception_handler(PaperwireError, _library_error)
    app.add_exception_handler(WebError, _web_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
