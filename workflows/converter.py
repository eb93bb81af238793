"""The data converter shared by the worker and every client.

It is Temporal's pydantic converter with one difference. When an action's
payload fails validation, the SDK would drop a signal with only a log line,
and a bad start input would retry its workflow task forever. Instead, the
payload decodes to an unvalidated instance that carries pydantic's error
text, and the workflow records the rejection where everyone can see it.
"""

from __future__ import annotations

import json
from typing import Any, Final

import temporalio.api.common.v1
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

from workflows.models import Action, Currency, Email, OrderId, ProvidePaymentMethodInput, StartOrderInput, Url

LENIENT_TYPES: tuple[type[BaseModel], ...] = (Action, StartOrderInput)


def _pattern(annotated: Any) -> str:
    pattern: str = TypeAdapter(annotated).json_schema()["pattern"]
    return pattern


_STRIPE_IDS = ProvidePaymentMethodInput.model_json_schema()["properties"]

PATTERN_WORDS: Final[dict[str, str]] = {
    _pattern(Email): "not a valid email address",
    _pattern(OrderId): "not a valid order id (letters, digits, '.', '_' and '-', starting with a letter or digit)",
    _pattern(Currency): "not a currency code (three capital letters, such as EUR)",
    _pattern(Url): "not a web address (it must start with http:// or https://)",
    _STRIPE_IDS["stripe_customer_id"]["pattern"]: "not a Stripe customer id (cus_...)",
    _STRIPE_IDS["payment_method_id"]["pattern"]: "not a Stripe payment method id (pm_...)",
}
"""A person reads these instead of the regular expression a field must match."""

_PREFIXES: Final = ("Value error, ", "Assertion failed, ")
"""What pydantic puts before a validator's own message."""


def _words(item: ErrorDetails) -> str:
    if item["type"] == "string_pattern_mismatch":
        pattern = str((item.get("ctx") or {}).get("pattern", ""))
        return PATTERN_WORDS.get(pattern, "not in the expected format")
    message = item["msg"]
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    return message


def describe(error: ValidationError) -> str:
    """One line per problem, naming the field, in words: ``email: not a valid email address``.

    This is the one place pydantic's errors become text: the CLI, ``OrderClient``
    and the order's own record of a rejected action all use it.
    """
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "payload"
        parts.append(f"{where}: {_words(item)}")
    return "; ".join(parts)


class _LenientJSONConverter(PydanticJSONPlainPayloadConverter):
    def from_payload(
        self,
        payload: temporalio.api.common.v1.Payload,
        type_hint: type | None = None,
    ) -> Any:
        try:
            return super().from_payload(payload, type_hint)
        except ValidationError as error:
            if not (isinstance(type_hint, type) and issubclass(type_hint, LENIENT_TYPES)):
                raise
            return _unvalidated(type_hint, payload.data, describe(error))


def _unvalidated(model: type[BaseModel], data: bytes, reason: str) -> BaseModel:
    try:
        raw = json.loads(data)
    except ValueError:
        raw = None
    fields: dict[str, Any] = {}
    if isinstance(raw, dict) and isinstance(raw.get("request_id"), str):
        # Keep the request id so that a retried bad request is recognisable.
        fields["request_id"] = raw["request_id"]
    instance = model.model_construct(**fields)
    instance._decode_error = reason  # type: ignore[attr-defined]
    return instance


class LenientPayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        lenient = _LenientJSONConverter()
        super().__init__(
            *(
                lenient if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


data_converter = DataConverter(payload_converter_class=LenientPayloadConverter)
