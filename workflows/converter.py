"""The data converter shared by the worker and every client.

It is Temporal's pydantic converter with one difference: a payload meant for
an action or the start input never fails to decode. Whatever arrives (JSON of
the wrong shape, ``null``, ``binary/plain`` bytes, ``binary/null``, a
``json/protobuf`` message, an encoding nobody knows), it decodes to an
unvalidated instance of the expected model that carries the reason in
``_decode_error``, and the workflow records the rejection where everyone can
see it. Without this the SDK would drop a bad signal with only a log line,
hand the handler ``bytes`` or ``None`` (a failed workflow task, retried
forever), and a bad start input would retry its workflow task forever.

The converter only sees payloads whose count matches the handler's
parameters; a message with no payload or several never gets a type hint from
the SDK. ``workflows/handlers.py`` therefore takes actions raw and checks
the count itself before calling ``from_payload`` here.

The same converter carries the payload codec (``ordersecurity/codec.py``): every
payload is compressed and encrypted before it leaves the process, and failure
messages and stack traces travel as an encoded payload too (Temporal keeps
them in plain text otherwise). There is one ``data_converter``, so no entry
point (worker, CLI, ``OrderClient``, webhook receiver, replayer) can forget it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Final, TypeVar

import temporalio.api.common.v1
import temporalio.api.failure.v1
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    PayloadConverter,
)

from ordersecurity.codec import NOT_PERSONAL, EncryptionCodec, PayloadDecryptionError, arrived_plain
from workflows.models import (
    Action,
    Currency,
    Email,
    OrderId,
    OrderResult,
    ProvidePaymentMethodInput,
    StartOrderInput,
    Url,
)

LENIENT_TYPES: tuple[type[BaseModel], ...] = (Action, StartOrderInput)
JSON_ENCODING = b"json/plain"
NOT_PERSONAL_TYPES: tuple[type[BaseModel], ...] = (OrderResult,)
"""What accounting keeps after an order's personal data is erased: amounts, dates, statuses and counts."""

ModelT = TypeVar("ModelT", bound=BaseModel)


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

_NAMES_A_FIELD: Final = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z0-9_]+)*: ")
"""``terms.cancellation_fee: ...``: a model validator's message that starts with the field it is about."""


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
        words = _words(item)
        if not item["loc"] and _NAMES_A_FIELD.match(words):
            parts.append(words)  # a model validator that names the field itself
            continue
        where = ".".join(str(p) for p in item["loc"]) or "payload"
        parts.append(f"{where}: {words}")
    return "; ".join(parts)


def describe_payload(payload: temporalio.api.common.v1.Payload) -> str:
    """``binary/plain payload``: how the payload said it was encoded."""
    encoding = payload.metadata.get("encoding")
    if encoding is None:
        return "payload without an encoding"
    return f"{encoding.decode('utf-8', 'replace')[:60]} payload"


def decode_error(payload: temporalio.api.common.v1.Payload, error: Exception) -> str:
    """The reason a payload did not decode, for a person to read."""
    if isinstance(error, ValidationError):
        return describe(error)
    detail = str(error.__cause__ or error) or type(error).__name__
    return f"{describe_payload(payload)} could not be decoded: {detail[:200]}"


def unvalidated(model: type[ModelT], payload: temporalio.api.common.v1.Payload | None, reason: str) -> ModelT:
    """An instance of ``model`` built without validation, carrying ``reason``
    in ``_decode_error``; it keeps a string ``request_id`` from a JSON object,
    so that a retried bad request is recognisable."""
    fields: dict[str, Any] = {}
    if payload is not None and payload.metadata.get("encoding") == JSON_ENCODING:
        try:
            raw = json.loads(payload.data)
        except ValueError:
            raw = None
        if isinstance(raw, dict) and isinstance(raw.get("request_id"), str):
            fields["request_id"] = raw["request_id"]
    instance = model.model_construct(**fields)
    instance._decode_error = reason  # type: ignore[attr-defined]
    return instance


def _is_lenient(type_hint: Any) -> bool:
    return isinstance(type_hint, type) and issubclass(type_hint, LENIENT_TYPES)


# One for every converter the worker builds. The SDK builds a payload converter
# for each run, and this one caches pydantic's type adapters (with a serializer
# of its own): about 8 KiB for each cached order when each had its own. The
# cache is thread-safe and the adapters do not change once built.
PYDANTIC_JSON: Final = PydanticJSONPlainPayloadConverter()


class LenientPayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(
            *(
                PYDANTIC_JSON if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )

    def to_payloads(self, values: Sequence[Any]) -> list[temporalio.api.common.v1.Payload]:
        payloads = super().to_payloads(values)
        for value, payload in zip(values, payloads, strict=True):
            if isinstance(value, NOT_PERSONAL_TYPES):
                # Encrypted with the master key, not the order's: readable after erasure (codec.NOT_PERSONAL).
                payload.metadata[NOT_PERSONAL] = b"no"
        return payloads

    def from_payloads(
        self,
        payloads: Sequence[temporalio.api.common.v1.Payload],
        type_hints: list[type] | None = None,
    ) -> list[Any]:
        hints: list[type | None] = list(type_hints) if type_hints else [None] * len(payloads)
        if len(hints) != len(payloads) or not any(_is_lenient(h) for h in hints):
            return super().from_payloads(payloads, type_hints)
        return [self._one(payload, hint) for payload, hint in zip(payloads, hints, strict=True)]

    def _one(self, payload: temporalio.api.common.v1.Payload, type_hint: type | None) -> Any:
        if type_hint is None:
            return super().from_payloads([payload])[0]
        if not _is_lenient(type_hint):
            return super().from_payloads([payload], [type_hint])[0]
        value = self._lenient(payload, type_hint)
        value._arrived_plain = arrived_plain(payload)
        return value

    def _lenient(self, payload: temporalio.api.common.v1.Payload, type_hint: type) -> Any:
        try:
            value = super().from_payloads([payload], [type_hint])[0]
        except Exception as error:
            return unvalidated(type_hint, payload, decode_error(payload, error))
        if not isinstance(value, type_hint):
            shown = "null" if value is None else type(value).__name__
            return unvalidated(type_hint, payload, f"{describe_payload(payload)} decoded to {shown}, not an object")
        return value


class PrivateFailureConverter(DefaultFailureConverter):
    """Failure messages and stack traces go into an encoded payload (they may quote a
    customer: a mail server's answer, a validation error), except for a payload
    that could not be decrypted: that message names only a key id, and the
    operator who must add the key needs to read it without the key."""

    def __init__(self) -> None:
        super().__init__(encode_common_attributes=True)

    def to_failure(
        self,
        exception: BaseException,
        payload_converter: PayloadConverter,
        failure: temporalio.api.failure.v1.Failure,
    ) -> None:
        if isinstance(exception, PayloadDecryptionError):
            PLAIN_FAILURES.to_failure(exception, payload_converter, failure)
            return
        super().to_failure(exception, payload_converter, failure)


PLAIN_FAILURES: Final = DefaultFailureConverter()

codec = EncryptionCodec()
"""Keys from ``ORDERS_ENCRYPTION_KEYS``, read when used; none set means payloads pass through."""

data_converter = DataConverter(
    payload_converter_class=LenientPayloadConverter,
    payload_codec=codec,
    failure_converter_class=PrivateFailureConverter,
)
