"""The SendGrid backend: the real ``SendGridAPIClient`` against an in-process double.

No Temporal server here: the activity runs in ``ActivityEnvironment``. The
Temporal-level behaviour (retries, failed emails on the order, a free event
loop) is in ``test_sendgrid_workflow.py``.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.error import URLError

import pytest
from python_http_client import exceptions as http_errors
from sendgrid.helpers.mail.exceptions import ApiKeyIncludedException
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.config import SENDGRID_MAX_TIMEOUT, ConfigError, Settings
from activities.email import EmailActivities, OutboxBackend, backend_from_settings, render
from activities.outgoing import OutgoingEmail
from activities.sendgrid_backend import (
    MAX_RATE_LIMIT_DELAY,
    SendGridBackend,
    rate_limit_delay,
    redact,
    sendgrid_error,
)
from tests.activities.email_samples import CUSTOMER_EMAIL, CUSTOMER_NAME, ORDER_ID, audience_for, sample_request
from tests.doubles.sendgrid_api import MAIL_SEND, TEST_API_KEY, Reply, SendGridDouble
from workflows.mail import EMAIL_TIMEOUT
from workflows.models import Audience, EmailReceipt, EmailRequest, MessageKind


def activities(settings: Settings) -> EmailActivities:
    return EmailActivities(settings, backend_from_settings(settings))


async def send(acts: EmailActivities, request: EmailRequest) -> EmailReceipt:
    receipt: EmailReceipt = await ActivityEnvironment().run(acts.send_email, request)
    return receipt


async def failure(acts: EmailActivities, request: EmailRequest) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await send(acts, request)
    return caught.value


def assert_clean(text: str) -> None:
    """No credential and no raw SendGrid body in ``text``."""
    assert TEST_API_KEY not in text
    assert "SG.double-test-key" not in text
    assert "Bearer" not in text
    assert '{"errors"' not in text


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------


def test_outbox_is_the_default_backend() -> None:
    settings = Settings.from_env({})
    assert settings.email_backend == "outbox"
    assert settings.sendgrid_api_key is None
    assert isinstance(backend_from_settings(settings), OutboxBackend)


def test_an_api_key_chooses_sendgrid_unless_the_outbox_is_asked_for() -> None:
    assert Settings.from_env({"SENDGRID_API_KEY": TEST_API_KEY}).email_backend == "sendgrid"
    chosen = Settings.from_env({"SENDGRID_API_KEY": TEST_API_KEY, "ORDERS_EMAIL_BACKEND": "outbox"})
    assert chosen.email_backend == "outbox"
    assert isinstance(backend_from_settings(chosen), OutboxBackend)


def test_sendgrid_without_a_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="SENDGRID_API_KEY"):
        Settings.from_env({"ORDERS_EMAIL_BACKEND": "sendgrid"})
    with pytest.raises(ConfigError, match="SENDGRID_API_KEY"):
        backend_from_settings(Settings(email_backend="sendgrid"))


def test_sendgrid_settings_from_env(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "ORDERS_OUTBOX_DIR": str(tmp_path),  # the backend's ledger goes there, not in the checkout's .orders/
            "SENDGRID_API_KEY": f" {TEST_API_KEY} ",
            "ORDERS_EMAIL_BACKEND": "SendGrid",
            "SENDGRID_API_BASE": "http://127.0.0.1:9999/",
            "SENDGRID_SANDBOX": "1",
            "SENDGRID_TIMEOUT": "2.5",
            "SENDGRID_TEMPLATES": '{"payment_requested": "d-0123", "delivered": "d-4567"}',
        }
    )
    assert settings.email_backend == "sendgrid"
    assert settings.sendgrid_api_key == TEST_API_KEY
    assert settings.sendgrid_api_base == "http://127.0.0.1:9999"
    assert settings.sendgrid_sandbox is True
    assert settings.sendgrid_timeout == 2.5
    assert settings.sendgrid_templates == {"payment_requested": "d-0123", "delivered": "d-4567"}

    backend = backend_from_settings(settings)
    assert isinstance(backend, SendGridBackend)
    assert backend.name == "sendgrid"
    assert (backend.host, backend.sandbox, backend.timeout) == ("http://127.0.0.1:9999", True, 2.5)
    assert backend.template_ids == settings.sendgrid_templates


def test_sendgrid_defaults() -> None:
    settings = Settings.from_env({"SENDGRID_API_KEY": TEST_API_KEY})
    assert settings.sendgrid_api_base == "https://api.sendgrid.com"
    assert settings.sendgrid_sandbox is False
    assert settings.sendgrid_timeout == 10
    assert settings.sendgrid_templates == {}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ORDERS_EMAIL_BACKEND": "smtp"}, "ORDERS_EMAIL_BACKEND"),
        ({"SENDGRID_SANDBOX": "maybe"}, "SENDGRID_SANDBOX"),
        ({"SENDGRID_TIMEOUT": "soon"}, "SENDGRID_TIMEOUT"),
        ({"SENDGRID_TIMEOUT": "0"}, "SENDGRID_TIMEOUT"),
        ({"SENDGRID_TIMEOUT": "60"}, "SENDGRID_TIMEOUT"),
        ({"SENDGRID_API_BASE": "api.sendgrid.com"}, "SENDGRID_API_BASE"),
        ({"SENDGRID_TEMPLATES": "payment_requested=d-1"}, "SENDGRID_TEMPLATES"),
        ({"SENDGRID_TEMPLATES": '["d-1"]'}, "SENDGRID_TEMPLATES"),
        ({"SENDGRID_TEMPLATES": '{"delivered": "1234-uuid"}'}, "delivered"),
    ],
)
def test_bad_sendgrid_settings_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env({"SENDGRID_API_KEY": TEST_API_KEY, **env})


def test_unknown_template_kinds_are_named() -> None:
    raw = '{"payment_requested": "d-1", "invoice_sent": "d-2", "welcome": "d-3"}'
    with pytest.raises(ConfigError, match="SENDGRID_TEMPLATES names unknown message kinds: invoice_sent, welcome"):
        Settings.from_env({"SENDGRID_TEMPLATES": raw})


def test_the_api_key_stays_out_of_reprs(tmp_path: Path) -> None:
    settings = Settings.from_env({"SENDGRID_API_KEY": TEST_API_KEY, "ORDERS_OUTBOX_DIR": str(tmp_path)})
    assert TEST_API_KEY not in repr(settings) and TEST_API_KEY not in str(settings)
    assert TEST_API_KEY not in repr(backend_from_settings(settings))


def test_the_timeout_fits_in_the_email_activity() -> None:
    # urllib applies the timeout to connecting and to waiting for the answer.
    assert EMAIL_TIMEOUT.total_seconds() > 2 * SENDGRID_MAX_TIMEOUT


# --------------------------------------------------------------------------
# Delivery
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(MessageKind), ids=lambda kind: kind.value)
async def test_every_kind_is_delivered(
    kind: MessageKind, sendgrid_settings: Settings, sendgrid_api: SendGridDouble
) -> None:
    request = sample_request(kind)

    receipt = await send(activities(sendgrid_settings), request)

    [sent] = sendgrid_api.requests
    assert (sent.method, sent.path, sent.status) == ("POST", MAIL_SEND, 202)
    assert sent.header("Authorization") == f"Bearer {TEST_API_KEY}"
    assert sent.header("Content-Type") == "application/json"
    assert receipt == EmailReceipt(
        message_key=request.message_key, message_id=sent.reply_headers["X-Message-Id"], backend="sendgrid"
    )

    body = sent.body
    rendered = render(kind, request.context, sendgrid_settings)
    audience = audience_for(kind)
    expected_to = {
        Audience.CUSTOMER: {"email": CUSTOMER_EMAIL, "name": CUSTOMER_NAME},
        Audience.OPERATIONS: {"email": "ops@example.com"},
        Audience.SUPPORT: {"email": "help@example.com"},
    }[audience]
    assert body["personalizations"] == [{"to": [expected_to]}]
    assert body["from"] == {"email": "orders@example.com", "name": "Example IT Services"}
    assert body["subject"] == rendered.subject
    assert body["content"] == [
        {"type": "text/plain", "value": rendered.text},
        {"type": "text/html", "value": rendered.html},
    ]
    assert body["categories"] == [kind.value]
    assert body["custom_args"] == {"order_id": ORDER_ID, "kind": kind.value, "message_key": request.message_key}
    reply_to = CUSTOMER_EMAIL if kind is MessageKind.SUPPORT_REQUEST_FORWARDED else "replies@example.com"
    assert body["reply_to"] == {"email": reply_to}
    assert "template_id" not in body and "mail_settings" not in body


async def test_mapped_kind_uses_the_dynamic_template(sendgrid_settings: Settings, sendgrid_api: SendGridDouble) -> None:
    settings = replace(sendgrid_settings, sendgrid_templates={"payment_requested": "d-payreq01"})
    acts = activities(settings)
    request = sample_request(MessageKind.PAYMENT_REQUESTED)

    await send(acts, request)
    await send(acts, sample_request(MessageKind.CONTACT_ACK))

    mapped, unmapped = (r.body for r in sendgrid_api.requests)
    assert mapped["template_id"] == "d-payreq01"
    assert "content" not in mapped and "subject" not in mapped
    [personalization] = mapped["personalizations"]
    assert personalization["to"] == [{"email": CUSTOMER_EMAIL, "name": CUSTOMER_NAME}]
    data = personalization["dynamic_template_data"]
    assert data["subject"] == render(MessageKind.PAYMENT_REQUESTED, request.context, settings).subject
    for key, value in request.context.items():
        assert data[key] == value
    assert data["company"] == settings.company_name
    assert data["web_base_url"] == "https://orders.example.com"
    assert mapped["categories"] == ["payment_requested"]
    assert mapped["custom_args"]["message_key"] == request.message_key

    assert "template_id" not in unmapped and unmapped["content"][0]["type"] == "text/plain"


async def test_sandbox_mode(sendgrid_settings: Settings, sendgrid_api: SendGridDouble) -> None:
    sendgrid_api.script(Reply.sandbox())
    acts = activities(replace(sendgrid_settings, sendgrid_sandbox=True))

    receipt = await send(acts, sample_request(MessageKind.CONTACT_ACK))

    [sent] = sendgrid_api.requests
    assert sent.status == 200
    assert sent.body["mail_settings"] == {"sandbox_mode": {"enable": True}}
    assert receipt.message_id == sent.reply_headers.get("X-Message-Id")
    assert receipt.backend == "sendgrid"


async def test_an_accepted_message_is_not_sent_again_by_the_same_worker(
    sendgrid_settings: Settings, sendgrid_api: SendGridDouble
) -> None:
    acts = activities(sendgrid_settings)
    request = sample_request(MessageKind.DELIVERED)

    first = await send(acts, request)
    again = await send(acts, request)

    assert again == first
    assert len(sendgrid_api.requests) == 1


async def test_send_runs_off_the_event_loop(sendgrid_settings: Settings) -> None:
    threads: list[threading.Thread] = []

    class Recording:
        name = "recording"

        def send(self, message: OutgoingEmail) -> str | None:
            threads.append(threading.current_thread())
            return "id"

    await send(EmailActivities(sendgrid_settings, Recording()), sample_request(MessageKind.CONTACT_ACK))

    assert threads and threads[0] is not threading.current_thread()


def test_each_request_has_the_configured_timeout(sendgrid_settings: Settings) -> None:
    backend = SendGridBackend(TEST_API_KEY, host="http://127.0.0.1:1", timeout=3)
    assert backend.client().client.timeout == 3
    assert backend.client().client.mail.send.timeout == 3  # what the request itself uses


async def test_a_slow_answer_times_out(sendgrid_settings: Settings, sendgrid_api: SendGridDouble) -> None:
    sendgrid_api.script(Reply.slow(3))
    acts = activities(replace(sendgrid_settings, sendgrid_timeout=0.3))

    started = time.monotonic()
    error = await failure(acts, sample_request(MessageKind.CONTACT_ACK))

    assert time.monotonic() - started < 2
    assert (error.type, error.non_retryable) == ("SendGridUnavailable", False)
    assert "timeout" in error.message


# --------------------------------------------------------------------------
# Errors, through the real client and the activity
# --------------------------------------------------------------------------


ERROR_TABLE = [
    pytest.param(Reply.bad_request(), "SendGridBadRequest", True, id="400"),
    pytest.param(Reply.unauthorized(), "SendGridUnauthorized", True, id="401"),
    pytest.param(Reply.forbidden(), "SendGridForbidden", True, id="403"),
    pytest.param(Reply.too_large(), "SendGridPayloadTooLarge", True, id="413"),
    pytest.param(
        Reply(404, b'{"errors": [{"message": "not found"}]}', message_id=False), "SendGridRejected", True, id="404"
    ),
    pytest.param(Reply.rate_limited(reset_in=1), "SendGridRateLimited", False, id="429"),
    pytest.param(Reply.server_error(500), "SendGridUnavailable", False, id="500"),
    pytest.param(Reply.server_error(502), "SendGridUnavailable", False, id="502"),
    pytest.param(Reply.server_error(503), "SendGridUnavailable", False, id="503"),
    pytest.param(Reply.dropped(), "SendGridUnavailable", False, id="dropped"),
]


@pytest.mark.parametrize(("reply", "error_type", "non_retryable"), ERROR_TABLE)
async def test_error_mapping(
    reply: Reply,
    error_type: str,
    non_retryable: bool,
    sendgrid_settings: Settings,
    sendgrid_api: SendGridDouble,
) -> None:
    sendgrid_api.script(reply)

    error = await failure(activities(sendgrid_settings), sample_request(MessageKind.CONTACT_ACK))

    assert type(error) is ApplicationError  # raised by the backend, unwrapped by the activity
    assert (error.type, error.non_retryable) == (error_type, non_retryable)
    assert error.__cause__ is None
    assert_clean(error.message)
    [sent] = sendgrid_api.requests
    if reply.status == 429:
        reset = int(sent.reply_headers["X-RateLimit-Reset"])
        assert error.next_retry_delay is not None
        assert timedelta(seconds=1) <= error.next_retry_delay <= timedelta(seconds=2)
        assert sent.answered_at is not None and sent.answered_at + error.next_retry_delay.total_seconds() >= reset
    else:
        assert error.next_retry_delay is None
    if reply.status >= 400:
        assert f"SendGrid answered {reply.status}" in error.message


async def test_a_bad_request_names_sendgrids_reason(sendgrid_settings: Settings, sendgrid_api: SendGridDouble) -> None:
    sendgrid_api.script(Reply.bad_request("Invalid type. Expected: string, given: integer.", "content.0.value"))

    error = await failure(activities(sendgrid_settings), sample_request(MessageKind.CONTACT_ACK))

    assert error.message == (
        "SendGrid answered 400 Bad Request: SendGrid refused the message as invalid. SendGrid says: "
        "Invalid type. Expected: string, given: integer. (field: content.0.value)"
    )


async def test_a_wrong_api_key_is_unauthorized_and_not_named(
    sendgrid_settings: Settings, sendgrid_api: SendGridDouble
) -> None:
    wrong = "SG.wrong-key-for-test.abcdefghijklmnop"
    acts = activities(replace(sendgrid_settings, sendgrid_api_key=wrong))

    error = await failure(acts, sample_request(MessageKind.CONTACT_ACK))

    assert (error.type, error.non_retryable) == ("SendGridUnauthorized", True)
    assert "SENDGRID_API_KEY" in error.message and wrong not in error.message


async def test_connection_refused_is_retryable(sendgrid_settings: Settings) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    acts = activities(replace(sendgrid_settings, sendgrid_api_base=f"http://127.0.0.1:{port}"))

    error = await failure(acts, sample_request(MessageKind.CONTACT_ACK))

    assert (error.type, error.non_retryable) == ("SendGridUnavailable", False)
    assert "refused" in error.message.lower()


# --------------------------------------------------------------------------
# The mapping function itself
# --------------------------------------------------------------------------


def http_error(
    cls: type[http_errors.HTTPError], status: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> Any:
    return cls(status, "reason from the wire", body, headers or {})


@pytest.mark.parametrize(
    ("error", "error_type", "non_retryable"),
    [
        (http_error(http_errors.BadRequestsError, 400), "SendGridBadRequest", True),
        (http_error(http_errors.UnauthorizedError, 401), "SendGridUnauthorized", True),
        (http_error(http_errors.ForbiddenError, 403), "SendGridForbidden", True),
        (http_error(http_errors.PayloadTooLargeError, 413), "SendGridPayloadTooLarge", True),
        (http_error(http_errors.NotFoundError, 404), "SendGridRejected", True),
        (http_error(http_errors.TooManyRequestsError, 429), "SendGridRateLimited", False),
        (http_error(http_errors.InternalServerError, 500), "SendGridUnavailable", False),
        (http_error(http_errors.ServiceUnavailableError, 503), "SendGridUnavailable", False),
        (http_error(http_errors.GatewayTimeoutError, 504), "SendGridUnavailable", False),
        (http_error(http_errors.HTTPError, 502), "SendGridUnavailable", False),
        (http_error(http_errors.HTTPError, 408), "SendGridUnavailable", False),
        (URLError(ConnectionRefusedError(111, "Connection refused")), "SendGridUnavailable", False),
        (URLError(TimeoutError("timed out")), "SendGridUnavailable", False),
        (TimeoutError("timed out"), "SendGridUnavailable", False),
        (ConnectionResetError(104, "Connection reset by peer"), "SendGridUnavailable", False),
        (http.client.RemoteDisconnected("Remote end closed connection without response"), "SendGridUnavailable", False),
        (http.client.IncompleteRead(b"partial"), "SendGridUnavailable", False),
        (ApiKeyIncludedException(), "SendGridApiKeyInContent", True),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_sendgrid_error_table(error: BaseException, error_type: str, non_retryable: bool) -> None:
    mapped = sendgrid_error(error, now=1_000.0)
    assert isinstance(mapped, ApplicationError)
    assert (mapped.type, mapped.non_retryable) == (error_type, non_retryable)
    assert "reason from the wire" not in mapped.message


@pytest.mark.parametrize(
    ("reset", "now", "expected"),
    [
        ("1010", 1_000.0, timedelta(seconds=10)),
        ("1001", 1_000.2, timedelta(seconds=1)),  # rounded up to a whole second
        ("1000", 1_000.5, timedelta(seconds=1)),  # already passed: at least a second
        ("900", 1_000.0, timedelta(seconds=1)),
        ("99999", 1_000.0, MAX_RATE_LIMIT_DELAY),  # capped
        ("soon", 1_000.0, None),
        (None, 1_000.0, None),
    ],
)
def test_rate_limit_delay(reset: str | None, now: float, expected: timedelta | None) -> None:
    headers = {"X-RateLimit-Reset": reset} if reset is not None else {}
    assert rate_limit_delay(headers, now) == expected
    error = sendgrid_error(http_error(http_errors.TooManyRequestsError, 429, headers=headers), now=now)
    assert error.next_retry_delay == expected and not error.non_retryable


def test_error_messages_never_carry_the_key_or_the_raw_body() -> None:
    body = (
        b'{"errors": [{"message": "key ' + TEST_API_KEY.encode() + b' is bad", "field": "authorization"},'
        b' {"message": "Authorization: Bearer abc.def"}]}'
    )
    error = sendgrid_error(http_error(http_errors.BadRequestsError, 400, body), secrets=["my-secret"])
    assert_clean(error.message)
    assert "[redacted]" in error.message

    secret_in_reason = URLError("proxy said my-secret was wrong")
    assert "my-secret" not in sendgrid_error(secret_in_reason, secrets=["my-secret"]).message

    not_json = sendgrid_error(http_error(http_errors.BadRequestsError, 400, b"<html>proxy error page</html>"))
    assert not_json.message == "SendGrid answered 400 Bad Request: SendGrid refused the message as invalid"


def test_redact() -> None:
    assert redact("HEADERS: {'Authorization': 'Bearer SG.abc.def', 'Accept': 'x'}") == (
        "HEADERS: {'Authorization': '[redacted]', 'Accept': 'x'}"
    )
    assert redact("token SG.a1_b-2.c3") == "token [redacted]"
    assert redact("bearer abc") == "bearer [redacted]"
    assert redact("plain text, no secrets") == "plain text, no secrets"


# --------------------------------------------------------------------------
# Logging hygiene
# --------------------------------------------------------------------------


async def test_no_credentials_in_logs_at_debug(
    sendgrid_settings: Settings, sendgrid_api: SendGridDouble, caplog: pytest.LogCaptureFixture
) -> None:
    acts = activities(sendgrid_settings)
    sendgrid_api.script(Reply.bad_request(), Reply.rate_limited(), Reply.server_error())

    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            await failure(acts, sample_request(MessageKind.CONTACT_ACK))
        await send(acts, sample_request(MessageKind.CONTACT_ACK))

    assert len(sendgrid_api.requests) == 4
    assert "sent contact_ack email" in caplog.text  # the capture works
    assert not [r for r in caplog.records if r.name.startswith("python_http_client")]  # debug logging is off
    assert TEST_API_KEY not in caplog.text and "Bearer" not in caplog.text


async def test_http_client_debug_logging_turned_on_is_redacted(
    sendgrid_settings: Settings, sendgrid_api: SendGridDouble, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="python_http_client")
    sendgrid_api.script(Reply.bad_request())

    await failure(activities(sendgrid_settings), sample_request(MessageKind.CONTACT_ACK))
    await send(activities(sendgrid_settings), sample_request(MessageKind.ACCEPTED))

    headers = [r.getMessage() for r in caplog.records if r.getMessage().startswith("HEADERS")]
    assert headers, "python_http_client logs request headers at DEBUG"
    assert all("'Authorization': '[redacted]'" in line for line in headers)
    assert TEST_API_KEY not in caplog.text and "Bearer" not in caplog.text
