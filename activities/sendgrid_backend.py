"""Email through SendGrid's v3 Mail Send API (``POST /v3/mail/send``).

``SendGridBackend`` is an ``EmailBackend``: it turns an ``OutgoingEmail`` into
a request built with the official ``sendgrid`` package's ``Mail`` helper and
sends it with ``SendGridAPIClient``. A kind mapped to a dynamic template
(``SENDGRID_TEMPLATES``) is sent as ``template_id`` plus
``dynamic_template_data``; every other kind carries the subject, text and
HTML rendered from our own Jinja2 templates.

Three properties matter to the worker:

- **It never blocks the event loop.** The client is synchronous urllib, so
  ``send`` is synchronous too, and ``EmailActivities.send_email`` runs it with
  ``asyncio.to_thread``.
- **It never hangs.** The library sets no timeout; every request here has one
  (``SENDGRID_TIMEOUT``).
- **Its failures say what to do.** ``sendgrid_error`` is the one place that maps
  a failure to an ``ApplicationError``: a refusal (400, 401, 403, 413) is not
  retried, a rate limit (429) is retried when the limit resets, and a server
  error, timeout or dropped connection is retried by the activity's retry
  policy. Messages name the cause, never the API key, the raw body or the
  headers.

Sending is at least once: SendGrid has no idempotency key for mail. With a
``SentLedger`` (``ORDERS_EMAIL_LEDGER``, on by default in the worker) every
attempt is recorded before it leaves and its answer after, in SQLite, so:

- a message SendGrid accepted is never sent again, whichever worker retries
  it, and after a restart;
- the request waits for SendGrid's answer up to ``answer_wait`` in the
  background, while the activity attempt gives up after ``SENDGRID_TIMEOUT``
  and is retried; the retry waits for that answer instead of sending a second
  copy, so a slow answer is not a lost one;
- only a genuinely lost answer (accepted, then the connection was cut, or no
  answer within ``answer_wait``) is sent again.

Without a ledger an accepted key is remembered in this process only.
"""

from __future__ import annotations

import base64
import contextvars
import http.client
import json
import logging
import math
import re
import socket
import threading
import time
import urllib.error
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import timedelta
from http import HTTPStatus
from typing import Any

from python_http_client import exceptions as http_errors
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import (
    Attachment as SendGridAttachment,
)
from sendgrid.helpers.mail import (
    Category,
    CustomArg,
    Disposition,
    FileContent,
    FileName,
    FileType,
    From,
    Mail,
    MailSettings,
    ReplyTo,
    SandBoxMode,
    TemplateId,
    To,
)
from sendgrid.helpers.mail.exceptions import ApiKeyIncludedException
from temporalio.exceptions import ApplicationError

from activities.config import SENDGRID_DEFAULT_HOST, SENDGRID_DEFAULT_TIMEOUT, ConfigError, Settings
from activities.email_ledger import SentLedger
from activities.outgoing import OutgoingEmail
from orderclient import tracing

log = logging.getLogger("orders.email.sendgrid")

# --------------------------------------------------------------------------
# Logging hygiene
# --------------------------------------------------------------------------

HTTP_CLIENT_LOGGER = "python_http_client"
"""``python_http_client.client`` logs every request's headers at DEBUG,
``Authorization: Bearer <API key>`` included."""

_REDACTED = "[redacted]"
_SENDGRID_KEY = re.compile(r"SG\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_AUTHORIZATION = re.compile(r"""(?i)(['"]?authorization['"]?\s*[:=]\s*['"]?)[^'"\r\n,}]+""")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\",}]+")


_EMAIL_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without credentials: Authorization values, bearer tokens,
    anything shaped like a SendGrid key, and each of ``secrets``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    text = _AUTHORIZATION.sub(rf"\g<1>{_REDACTED}", text)
    text = _BEARER.sub(rf"\g<1>{_REDACTED}", text)
    return _SENDGRID_KEY.sub(_REDACTED, text)


class RedactCredentials(logging.Filter):
    """Rewrites a record that mentions credentials, whatever its level."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the handler's to report, unchanged
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


_hygiene_lock = threading.Lock()


def quiet_http_client_logging() -> None:
    """Keep ``python_http_client``'s DEBUG logging off, and redact credentials
    from whatever it logs should someone turn it back on. Idempotent."""
    with _hygiene_lock:
        client = logging.getLogger(f"{HTTP_CLIENT_LOGGER}.client")
        if any(isinstance(f, RedactCredentials) for f in client.filters):
            return
        logging.getLogger(HTTP_CLIENT_LOGGER).setLevel(logging.WARNING)
        client.addFilter(RedactCredentials())


quiet_http_client_logging()

# --------------------------------------------------------------------------
# Error mapping
# --------------------------------------------------------------------------

REFUSALS: dict[int, tuple[str, str]] = {
    400: ("SendGridBadRequest", "SendGrid refused the message as invalid"),
    401: ("SendGridUnauthorized", "SendGrid did not accept the API key (SENDGRID_API_KEY)"),
    403: (
        "SendGridForbidden",
        "the API key may not send this message: it needs the Mail Send permission and a verified sender",
    ),
    413: ("SendGridPayloadTooLarge", "the message is larger than SendGrid accepts"),
}
"""Non-retryable refusals: sending the same request again gets the same answer."""

RATE_LIMITED = "SendGridRateLimited"
UNAVAILABLE = "SendGridUnavailable"
REJECTED = "SendGridRejected"
API_KEY_IN_CONTENT = "SendGridApiKeyInContent"

MAX_RATE_LIMIT_DELAY = timedelta(minutes=10)
"""A reset further away than this (a clock or header gone wrong) is capped."""

SEND_ERRORS: tuple[type[BaseException], ...] = (
    http_errors.HTTPError,  # any HTTP status >= 400
    OSError,  # URLError (refused, DNS, TLS), TimeoutError, ConnectionError
    http.client.HTTPException,  # a malformed or cut-off response
    ApiKeyIncludedException,
)
"""What a send can raise that ``sendgrid_error`` maps."""

_MAX_DETAIL = 300
_MAX_DETAILS = 3


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


def error_details(body: Any, secrets: Iterable[str] = ()) -> str:
    """The ``message`` (and ``field``) of each error in a SendGrid error body,
    ``{"errors": [{"message": ..., "field": ..., "help": ...}]}``; empty when the
    body has another shape. Never the raw body."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else str(body)
        errors = json.loads(text).get("errors")
    except (ValueError, AttributeError):
        return ""
    if not isinstance(errors, list):
        return ""
    parts = []
    for error in errors[:_MAX_DETAILS]:
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            continue
        detail = " ".join(error["message"].split())[:_MAX_DETAIL]
        if isinstance(error.get("field"), str) and error["field"]:
            detail += f" (field: {' '.join(error['field'].split())[:80]})"
        parts.append(detail)
    if len(errors) > _MAX_DETAILS:
        parts.append(f"and {len(errors) - _MAX_DETAILS} more")
    # SendGrid may quote the address it refused: errors reach logs and Temporal, never personal data.
    return _EMAIL_ADDRESS.sub("<email address>", redact("; ".join(parts), secrets))


def _header(headers: Any, name: str) -> str | None:
    getter = getattr(headers, "get", None)
    value = getter(name) if callable(getter) else None
    return str(value) if value is not None else None


def rate_limit_delay(headers: Any, now: float | None = None) -> timedelta | None:
    """How long until ``X-RateLimit-Reset`` (epoch seconds): at least a second,
    at most ``MAX_RATE_LIMIT_DELAY``; ``None`` without a readable header."""
    raw = _header(headers, "X-RateLimit-Reset")
    try:
        reset = float(raw) if raw is not None else math.nan
    except ValueError:
        return None
    if not math.isfinite(reset):
        return None
    now = time.time() if now is None else now
    seconds = max(1, math.ceil(reset - now))
    return min(timedelta(seconds=seconds), MAX_RATE_LIMIT_DELAY)


def sendgrid_error(error: BaseException, *, now: float | None = None, secrets: Iterable[str] = ()) -> ApplicationError:
    """The ``ApplicationError`` a failed send raises (``raise ... from None``).

    | failure | type | retried |
    | --- | --- | --- |
    | 400 | ``SendGridBadRequest`` | no |
    | 401 | ``SendGridUnauthorized`` | no |
    | 403 | ``SendGridForbidden`` | no |
    | 413 | ``SendGridPayloadTooLarge`` | no |
    | 429 | ``SendGridRateLimited`` | after ``X-RateLimit-Reset`` (``next_retry_delay``) |
    | 408, 5xx | ``SendGridUnavailable`` | by the retry policy |
    | timeout, refused or dropped connection | ``SendGridUnavailable`` | by the retry policy |
    | any other 4xx | ``SendGridRejected`` | no |
    | body holds an API key (library check) | ``SendGridApiKeyInContent`` | no |

    The message names the status and SendGrid's own error messages, never the
    API key (nor anything shaped like one), the raw body or the headers.
    """
    secrets = tuple(secrets)
    if isinstance(error, http_errors.HTTPError):
        status = int(getattr(error, "status_code", 0) or 0)
        answered = f"SendGrid answered {status} {_phrase(status)}"
        details = error_details(getattr(error, "body", b""), secrets)
        if status in REFUSALS:
            error_type, cause = REFUSALS[status]
            message = f"{answered}: {cause}" + (f". SendGrid says: {details}" if details else "")
            return ApplicationError(message, type=error_type, non_retryable=True)
        if status == 429:
            delay = rate_limit_delay(getattr(error, "headers", None), now)
            when = f"in {delay.total_seconds():g} s, when the rate limit resets" if delay else "by the retry policy"
            return ApplicationError(
                f"{answered}: rate limit reached; retrying {when}", type=RATE_LIMITED, next_retry_delay=delay
            )
        if status >= 500 or status == 408:
            return ApplicationError(f"{answered}; retrying", type=UNAVAILABLE)
        message = answered + (f". SendGrid says: {details}" if details else "")
        return ApplicationError(message, type=REJECTED, non_retryable=True)
    if isinstance(error, ApiKeyIncludedException):
        return ApplicationError(
            "the sendgrid library refused to send a message whose body looks like it holds a SendGrid API key",
            type=API_KEY_IN_CONTENT,
            non_retryable=True,
        )
    if isinstance(error, TimeoutError) or isinstance(getattr(error, "reason", None), TimeoutError):
        return ApplicationError(
            "SendGrid did not answer before the timeout (SENDGRID_TIMEOUT); retrying", type=UNAVAILABLE
        )
    if isinstance(error, OSError | http.client.HTTPException):
        reason = getattr(error, "reason", None) or error
        cause = redact(" ".join(str(reason).split())[:_MAX_DETAIL], secrets)
        return ApplicationError(
            f"SendGrid unreachable ({type(error).__name__}: {cause or 'no detail'}); retrying", type=UNAVAILABLE
        )
    return ApplicationError(f"sending through SendGrid failed ({type(error).__name__}); retrying", type=UNAVAILABLE)


# --------------------------------------------------------------------------
# The backend
# --------------------------------------------------------------------------

_REMEMBERED = 4096

ANSWER_WAIT = 60.0
"""Seconds a request waits for SendGrid's answer in the background, past the
attempt's ``SENDGRID_TIMEOUT``; a retry meanwhile waits for it rather than send."""

_POLL = 0.05


def _not_sent(error: BaseException) -> bool:
    """SendGrid surely did not accept it: it answered an error, or the request never left."""
    if isinstance(error, http_errors.HTTPError | ApiKeyIncludedException):
        return True
    reason = getattr(error, "reason", None) if isinstance(error, urllib.error.URLError) else error
    return isinstance(reason, ConnectionRefusedError | socket.gaierror)


class SendGridBackend:
    """Sends each ``OutgoingEmail`` with one ``POST /v3/mail/send``."""

    name = "sendgrid"

    def __init__(
        self,
        api_key: str,
        *,
        host: str = SENDGRID_DEFAULT_HOST,
        sandbox: bool = False,
        template_ids: Mapping[str, str] | None = None,
        timeout: float = SENDGRID_DEFAULT_TIMEOUT,
        ledger: SentLedger | None = None,
        answer_wait: float = ANSWER_WAIT,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ConfigError("the SendGrid backend needs SENDGRID_API_KEY, which is not set")
        if not timeout > 0:
            raise ConfigError(f"SENDGRID_TIMEOUT must be above 0 seconds, not {timeout!r}")
        self._api_key = api_key.strip()
        self.host = host.rstrip("/")
        self.sandbox = sandbox
        self.template_ids = dict(template_ids or {})
        self.timeout = float(timeout)
        self.ledger = ledger
        self.answer_wait = max(float(answer_wait), self.timeout)
        self._accepted: OrderedDict[str, str | None] = OrderedDict()
        self._lock = threading.Lock()
        quiet_http_client_logging()

    @classmethod
    def from_settings(cls, settings: Settings) -> SendGridBackend:
        if not settings.sendgrid_api_key:
            raise ConfigError("ORDERS_EMAIL_BACKEND=sendgrid needs SENDGRID_API_KEY, which is not set")
        return cls(
            settings.sendgrid_api_key,
            host=settings.sendgrid_api_base,
            sandbox=settings.sendgrid_sandbox,
            template_ids=settings.sendgrid_templates,
            timeout=settings.sendgrid_timeout,
            ledger=SentLedger(settings.email_ledger) if settings.email_ledger else None,
        )

    def __repr__(self) -> str:
        return (
            f"SendGridBackend(host={self.host!r}, sandbox={self.sandbox}, "
            f"templates={sorted(self.template_ids)}, timeout={self.timeout:g}, ledger={self.ledger!r})"
        )

    def client(self, timeout: float | None = None) -> SendGridAPIClient:
        """A client for one request. The library's default is no timeout at all;
        ``python_http_client.Client.timeout`` is what urllib gets per request."""
        client = SendGridAPIClient(self._api_key, host=self.host)
        client.client.timeout = self.timeout if timeout is None else timeout
        return client

    def build_mail(self, message: OutgoingEmail) -> Mail:
        """The request body, with the ``Mail`` helper."""
        template_id = self.template_ids.get(message.kind)
        mail = Mail(
            from_email=From(message.from_email, message.from_name or None),
            to_emails=To(message.to_email, message.to_name or None),
        )
        if template_id:
            mail.template_id = TemplateId(template_id)
            mail.dynamic_template_data = dict(message.template_data) or {"subject": message.subject}
        else:
            mail.subject = message.subject
            mail.add_content(message.text, "text/plain")
            mail.add_content(message.html, "text/html")
        mail.category = [Category(message.kind)]
        mail.custom_arg = [
            CustomArg("order_id", message.order_id),
            CustomArg("kind", message.kind),
            CustomArg("message_key", message.message_key),
        ]
        if message.reply_to:
            mail.reply_to = ReplyTo(message.reply_to)
        for attachment in message.attachments:
            mail.add_attachment(
                SendGridAttachment(
                    FileContent(base64.b64encode(attachment.data).decode("ascii")),
                    FileName(attachment.filename),
                    FileType(attachment.content_type),
                    Disposition("attachment"),
                )
            )
        if self.sandbox:
            settings = MailSettings()
            settings.sandbox_mode = SandBoxMode(True)
            mail.mail_settings = settings
        return mail

    def send(self, message: OutgoingEmail) -> str | None:
        """Send ``message``; return SendGrid's ``X-Message-Id``. Blocking: call it
        from a thread. Raises ``ApplicationError`` (see ``sendgrid_error``)."""
        if self.ledger is not None:
            return self._send_recorded(message, self.ledger)
        with self._lock:
            if message.message_key in self._accepted:
                log.info("SendGrid already accepted %s; not sending it again", message.message_key)
                return self._accepted[message.message_key]
        try:
            response = self._request(message)
        except SEND_ERRORS as error:
            raise sendgrid_error(error, secrets=(self._api_key,)) from None
        message_id = _header(response.headers, "X-Message-Id")
        log.debug(
            "SendGrid accepted %s (HTTP %s, message id %s)", message.message_key, response.status_code, message_id
        )
        with self._lock:
            self._accepted[message.message_key] = message_id
            while len(self._accepted) > _REMEMBERED:
                self._accepted.popitem(last=False)
        return message_id

    def _request(self, message: OutgoingEmail, timeout: float | None = None) -> Any:
        """One ``POST /v3/mail/send``, a CLIENT span when tracing (method, host, status only)."""
        with tracing.http_span("SendGrid", "POST", self.host) as span:
            response = self.client(timeout).send(self.build_mail(message))
            span.status(response.status_code)
            return response

    def _send_recorded(self, message: OutgoingEmail, ledger: SentLedger) -> str | None:
        key = message.message_key
        deadline = time.monotonic() + self.timeout
        entry = ledger.get(key)
        while entry is not None and entry.state == "sending" and time.time() - entry.started_at < self.answer_wait:
            if time.monotonic() >= deadline:
                raise ApplicationError(
                    "an earlier attempt is still waiting for SendGrid's answer; retrying rather than sending twice",
                    type=UNAVAILABLE,
                )
            time.sleep(_POLL)
            entry = ledger.get(key)
        if entry is not None and entry.state == "accepted":
            log.info("SendGrid already accepted %s; not sending it again", key)
            return entry.message_id
        if entry is not None and entry.state in ("sending", "unknown"):
            log.warning(
                "no answer from SendGrid for the last attempt to send %s: it may have been accepted; "
                "sending again (at least once)",
                key,
            )
        ledger.start(key)
        outcome: Future[str | None] = Future()
        # The thread runs in a copy of this context: the request's span joins the activity's trace.
        threading.Thread(
            target=contextvars.copy_context().run,
            args=(self._post, message, ledger, outcome),
            name=f"sendgrid-{key}"[:60],
            daemon=True,
        ).start()
        try:
            return outcome.result(timeout=self.timeout)
        except FutureTimeout:
            raise ApplicationError(
                "SendGrid did not answer before the timeout (SENDGRID_TIMEOUT); retrying once its answer is in",
                type=UNAVAILABLE,
            ) from None

    def _post(self, message: OutgoingEmail, ledger: SentLedger, outcome: Future[str | None]) -> None:
        """One request, waiting up to ``answer_wait`` for the answer, which is
        recorded whether or not the attempt that started it still waits."""
        key = message.message_key
        try:
            response = self._request(message, self.answer_wait)
        except SEND_ERRORS as error:
            ledger.finish(key, "failed" if _not_sent(error) else "unknown")
            outcome.set_exception(sendgrid_error(error, secrets=(self._api_key,)))
            return
        except BaseException as error:  # a bug: recorded as unknown, raised in the attempt
            ledger.finish(key, "unknown")
            outcome.set_exception(error)
            return
        message_id = _header(response.headers, "X-Message-Id")
        ledger.finish(key, "accepted", message_id)
        log.debug("SendGrid accepted %s (HTTP %s, message id %s)", key, response.status_code, message_id)
        outcome.set_result(message_id)
