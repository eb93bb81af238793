"""Stripe's error answers: the JSON shape, and the exception an endpoint raises to give one."""

from __future__ import annotations

from typing import Any


def error_body(
    error_type: str, message: str, *, code: str | None = None, param: str | None = None, **extra: Any
) -> dict[str, Any]:
    """Stripe's error JSON: ``{"error": {"type": ..., "code": ..., "message": ...}}``."""
    error: dict[str, Any] = {"type": error_type, "message": message}
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param is not None:
        error["param"] = param
    error.update(extra)
    return {"error": error}


class StripeApiError(Exception):
    """Raised by an endpoint: answered as Stripe's error JSON with ``status``."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body["error"].get("message"))
        self.status = status
        self.body = body


def invalid(message: str, *, code: str | None = None, param: str | None = None, status: int = 400) -> StripeApiError:
    """An ``invalid_request_error`` (400 unless ``status`` says otherwise), to raise."""
    return StripeApiError(status, error_body("invalid_request_error", message, code=code, param=param))
