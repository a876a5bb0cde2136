"""Errors as OpenAI-shaped JSON: {"error": {"message", "type", "param", "code"}} with a 4xx/5xx status.

Official clients (the `openai` package among them) read this shape to raise a typed exception carrying the
message, so every failure the server reports, from malformed JSON to a wrong key, uses it.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import LanternError

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
               405: "invalid_request_error", 413: "invalid_request_error", 503: "server_overloaded",
               504: "timeout_error"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


def error_body(status: int, message: str, code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": ERROR_TYPES.get(status, "server_error"), "param": param,
                      "code": code}}


def error_response(status: int, message: str, code: str | None = None, param: str | None = None) -> JSONResponse:
    headers = {"Retry-After": "1"} if status == 503 else None
    return JSONResponse(error_body(status, message, code, param), status_code=status, headers=headers)


def describe_validation(exc: RequestValidationError) -> tuple[str, str | None]:
    """Pydantic's error list -> one readable line naming the first bad field, and that field's name."""
    first = exc.errors()[0] if exc.errors() else {}
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    if first.get("type") == "json_invalid":
        return f"the request body is not valid JSON ({first.get('ctx', {}).get('error', 'parse error')})", None
    field = ".".join(location) or None
    message = first.get("msg", "invalid request")
    return (f"{field}: {message}" if field else message), field


def install_error_handlers(app) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.code, exc.param)

    @app.exception_handler(LanternError)
    async def _lantern_error(request: Request, exc: LanternError) -> JSONResponse:
        return error_response(400, str(exc), "invalid_value")

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, field = describe_validation(exc)
        return error_response(400, message, "invalid_request", field)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))
