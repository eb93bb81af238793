"""The worker's configuration, read from environment variables.

Every variable is listed in the README's configuration table. Secrets (API
keys) stay here, in the worker process: they are never passed to a workflow,
so they never reach event history.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import TypeAdapter

from orderclient.connection import DEFAULT_CONNECT_TIMEOUT
from orderclient.health import HEALTH_ADDRESS_ENV, split_address
from workflows.models import MessageKind, OrderPolicy

_DURATION = TypeAdapter(timedelta)

# Environment variable for each default duration of OrderPolicy.
POLICY_ENV = {
    "confirmation_reminder": "ORDERS_CONFIRMATION_REMINDER",
    "confirmation_expiry": "ORDERS_CONFIRMATION_EXPIRY",
    "payment_due": "ORDERS_PAYMENT_DUE",
    "payment_reminder_before": "ORDERS_PAYMENT_REMINDER_BEFORE",
    "payment_grace": "ORDERS_PAYMENT_GRACE",
    "update_interval": "ORDERS_UPDATE_INTERVAL",
    "review_period": "ORDERS_REVIEW_PERIOD",
    "acceptance_reminder_before": "ORDERS_ACCEPTANCE_REMINDER_BEFORE",
    "support_period": "ORDERS_SUPPORT_PERIOD",
    "support_reminder_before": "ORDERS_SUPPORT_REMINDER_BEFORE",
}


EmailBackendName = Literal["outbox", "sendgrid"]
EMAIL_BACKENDS: tuple[EmailBackendName, ...] = ("outbox", "sendgrid")

SENDGRID_DEFAULT_HOST = "https://api.sendgrid.com"
SENDGRID_DEFAULT_TIMEOUT = 10.0
# urllib applies the timeout to each socket operation (connecting, then waiting
# for the response), so one request may take about twice as long. Both must fit
# in the email activity's start-to-close timeout (EMAIL_TIMEOUT, 30 s).
SENDGRID_MAX_TIMEOUT = 14.0

MIN_LINK_SECRET_LENGTH = 16

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class ConfigError(ValueError):
    """A configuration variable holds something unusable; the message names it."""


RUN_EVENT_BUDGET_ENV = "ORDERS_RUN_EVENT_BUDGET"


def _policy_from_env(env: dict[str, str]) -> OrderPolicy:
    values: dict[str, timedelta | int] = {}
    for name, var in POLICY_ENV.items():
        raw = env.get(var)
        if not raw:
            continue
        try:
            values[name] = _DURATION.validate_python(raw)
        except ValueError:
            raise ConfigError(f"{var}={raw!r} is not an ISO 8601 duration such as P14D or PT2H") from None
    budget = env.get(RUN_EVENT_BUDGET_ENV, "").strip()
    if budget:
        if not budget.isdigit() or not 200 <= int(budget) <= 40_000:
            raise ConfigError(f"{RUN_EVENT_BUDGET_ENV}={budget!r} must be a whole number from 200 to 40000")
        values["run_event_budget"] = int(budget)
    try:
        return OrderPolicy(**values)
    except ValueError as exc:
        raise ConfigError(f"invalid default durations: {exc}") from None


DEFAULT_CLOSED_ORDER_VISIBLE = timedelta(days=90)
CLOSED_ORDER_VISIBLE_ENV = "ORDERS_CLOSED_ORDER_VISIBLE"


def _closed_order_visible(env: Mapping[str, str]) -> timedelta:
    """``ORDERS_CLOSED_ORDER_VISIBLE``: an ISO 8601 duration, at least a day, at most ten years."""
    raw = env.get(CLOSED_ORDER_VISIBLE_ENV, "").strip()
    if not raw:
        return DEFAULT_CLOSED_ORDER_VISIBLE
    try:
        value = _DURATION.validate_python(raw)
    except ValueError:
        raise ConfigError(f"{CLOSED_ORDER_VISIBLE_ENV}={raw!r} is not an ISO 8601 duration such as P90D") from None
    if not timedelta(days=1) <= value <= timedelta(days=3660):
        raise ConfigError(f"{CLOSED_ORDER_VISIBLE_ENV}={raw!r} must be from P1D to P3660D")
    return value


LEDGER_FILE = ".sent.sqlite"


def _email_ledger(env: Mapping[str, str], outbox_dir: Path) -> Path | None:
    """``ORDERS_EMAIL_LEDGER``: a file, ``off``, or unset for ``<outbox dir>/.sent.sqlite``."""
    raw = env.get("ORDERS_EMAIL_LEDGER", "").strip()
    if raw.lower() in _FALSE:
        return None
    return Path(raw) if raw else outbox_dir / LEDGER_FILE


def _flag(env: Mapping[str, str], var: str) -> bool:
    raw = env.get(var, "").strip().lower()
    if raw in _TRUE:
        return True
    if not raw or raw in _FALSE:
        return False
    raise ConfigError(f"{var}={env[var]!r} is not a flag: use 1 or 0")


def _email_backend(env: Mapping[str, str]) -> EmailBackendName:
    raw = env.get("ORDERS_EMAIL_BACKEND", "").strip().lower()
    has_key = bool(env.get("SENDGRID_API_KEY", "").strip())
    if not raw:
        return "sendgrid" if has_key else "outbox"
    for name in EMAIL_BACKENDS:
        if raw == name:
            if name == "sendgrid" and not has_key:
                raise ConfigError("ORDERS_EMAIL_BACKEND=sendgrid needs SENDGRID_API_KEY, which is not set")
            return name
    raise ConfigError(f"ORDERS_EMAIL_BACKEND={env['ORDERS_EMAIL_BACKEND']!r} is not one of {', '.join(EMAIL_BACKENDS)}")


def _base_url(env: Mapping[str, str], var: str, example: str) -> str | None:
    """An API base URL override (for test doubles and proxies), or None when unset."""
    raw = env.get(var, "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"{var}={raw!r} is not an http(s) base URL such as {example}")
    return raw.rstrip("/")


def _seconds(env: Mapping[str, str], var: str, default: float, maximum: float) -> float:
    """A timeout in seconds, above 0 and at most ``maximum``."""
    raw = env.get(var, "").strip()
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= maximum:  # also refuses nan and inf
        raise ConfigError(f"{var}={raw!r} must be a number of seconds above 0 and at most {maximum:g}")
    return seconds


def parse_sendgrid_templates(raw: str, var: str = "SENDGRID_TEMPLATES") -> dict[str, str]:
    """``{"payment_requested": "d-..."}``: message kind to SendGrid dynamic template id."""
    if not raw.strip():
        return {}
    try:
        mapping = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f'{var} is not JSON ({exc.msg}): expected an object such as {{"contact_ack": "d-..."}}'
        ) from None
    if not isinstance(mapping, dict):
        raise ConfigError(f"{var} must be a JSON object of message kind to dynamic template id")
    known = {kind.value for kind in MessageKind}
    unknown = sorted(str(kind) for kind in mapping if kind not in known)
    if unknown:
        raise ConfigError(f"{var} names unknown message kinds: {', '.join(unknown)}")
    bad = sorted(
        kind
        for kind, template in mapping.items()
        if not (isinstance(template, str) and template.strip().startswith("d-"))
    )
    if bad:
        raise ConfigError(f"{var}: the template ids of {', '.join(bad)} are not dynamic template ids (d-...)")
    return {kind: template.strip() for kind, template in mapping.items()}


def _inbound_address(env: Mapping[str, str]) -> str | None:
    raw = env.get("ORDERS_INBOUND_ADDRESS", "").strip()
    if not raw:
        return None
    local, at, domain = raw.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() or c in "<>,;" for c in raw):
        raise ConfigError(f"ORDERS_INBOUND_ADDRESS={raw!r} is not an email address such as orders@in.example.com")
    return raw


def _link_secret(env: Mapping[str, str]) -> str | None:
    raw = env.get("ORDERS_LINK_SECRET", "")
    if not raw.strip():
        return None
    if len(raw) < MIN_LINK_SECRET_LENGTH:
        raise ConfigError(
            f"ORDERS_LINK_SECRET is too short: use at least {MIN_LINK_SECRET_LENGTH} random characters"
            " (for example the output of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    return raw


STRIPE_DEFAULT_TIMEOUT = 20.0
# requests applies the timeout to connecting and to reading separately, so one
# call may take about twice as long; it must fit in the payment activities'
# start-to-close timeout (PAYMENT_TIMEOUT, 60 s).
STRIPE_MAX_TIMEOUT = 25.0

# ORDERS_CONNECT_TIMEOUT: a worker started with its server (compose, Kubernetes)
# waits for it this long at most; a day covers any restart worth waiting for.
MAX_CONNECT_TIMEOUT = 24 * 3600.0

# ORDERS_MAX_CACHED_WORKFLOWS: orders a worker keeps in memory between their
# workflow tasks (Temporal's sticky cache). An order that falls out of it is
# replayed from its history on its next task, which costs CPU, not correctness.
DEFAULT_MAX_CACHED_WORKFLOWS = 1000
MAX_MAX_CACHED_WORKFLOWS = 1_000_000


def _count(env: Mapping[str, str], var: str, default: int, maximum: int) -> int:
    """A whole number from 0 to ``maximum``."""
    raw = env.get(var, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= maximum:
        raise ConfigError(f"{var}={raw!r} must be a whole number from 0 to {maximum}")
    return value


# How long the web-facing processes (portal, webhook receiver, codec server)
# wait for a slow client: for a request's head, then for its body.
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0
MAX_READ_TIMEOUT = 600.0


def _trusted_proxies(env: Mapping[str, str]) -> tuple[str, ...]:
    """``ORDERS_TRUSTED_PROXIES``: IP addresses or CIDR networks, comma- or space-separated."""
    raw = env.get("ORDERS_TRUSTED_PROXIES", "").replace(",", " ").split()
    for entry in raw:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(
                f"ORDERS_TRUSTED_PROXIES: {entry!r} is not an IP address or network such as 10.0.0.5 or 10.0.0.0/24"
            ) from None
    return tuple(raw)


@dataclass(frozen=True)
class HttpLimits:
    """What the web-facing processes allow their clients (``orderweb/serving.py``).

    A client that has not sent a request's head within ``header_timeout``
    seconds of connecting (or of its previous answer), or its body within
    ``body_timeout`` seconds of the head, is disconnected (slowloris).
    ``X-Forwarded-For`` is believed only from ``trusted_proxies``: the
    reverse proxy's addresses; empty, the connecting address is the client's.
    """

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    trusted_proxies: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HttpLimits:
        env = os.environ if env is None else env
        return cls(
            header_timeout=_seconds(env, "ORDERS_HTTP_HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT, MAX_READ_TIMEOUT),
            body_timeout=_seconds(env, "ORDERS_HTTP_BODY_TIMEOUT", DEFAULT_BODY_TIMEOUT, MAX_READ_TIMEOUT),
            trusted_proxies=_trusted_proxies(env),
        )


# S3's rules for a bucket name: 3 to 63 lowercase letters, digits, dots and hyphens,
# beginning and ending with a letter or digit.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KEY_PREFIX = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


def _aws(env: Mapping[str, str], *names: str) -> str | None:
    """The first of boto3's variables that is set (the S3-only one before the general one)."""
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def _endpoint_url(env: Mapping[str, str]) -> str | None:
    var = "AWS_ENDPOINT_URL_S3" if env.get("AWS_ENDPOINT_URL_S3", "").strip() else "AWS_ENDPOINT_URL"
    raw = env.get(var, "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.username is not None or parts.password is not None:
        # Not echoed: the value holds a secret. Messages name the endpoint, so it must not.
        raise ConfigError(f"{var} must not hold credentials: use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") or parts.query:
        raise ConfigError(f"{var}={raw!r} is not an http(s) endpoint such as http://minio:9000")
    return raw.rstrip("/")


@dataclass(frozen=True)
class DocumentBucket:
    """An S3 bucket for the order's documents (activities/s3_documents.py): AWS S3, MinIO or
    any S3-compatible service. Named by ``ORDERS_DOCUMENTS_BUCKET`` (and an optional key
    prefix); reached with boto3's own variables. Credentials left unset are found the way
    boto3 finds them (a profile, an instance or task role); set, they are kept out of repr()."""

    bucket: str
    # "" or a prefix ending in "/": documents are ``<prefix><order id>/<file name>``.
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DocumentBucket | None:
        bucket = env.get("ORDERS_DOCUMENTS_BUCKET", "").strip()
        prefix = env.get("ORDERS_DOCUMENTS_PREFIX", "").strip()
        if not bucket:
            if prefix:
                raise ConfigError("ORDERS_DOCUMENTS_PREFIX needs ORDERS_DOCUMENTS_BUCKET, which is not set")
            return None
        if not _BUCKET_NAME.match(bucket) or ".." in bucket:
            raise ConfigError(
                f"ORDERS_DOCUMENTS_BUCKET={bucket!r} is not an S3 bucket name "
                "(3 to 63 lowercase letters, digits, dots and hyphens, such as orders-documents)"
            )
        if env.get("ORDERS_DOCUMENTS_DIR", "").strip():
            raise ConfigError(
                "ORDERS_DOCUMENTS_DIR and ORDERS_DOCUMENTS_BUCKET are both set: the documents are kept in one "
                "place; unset one"
            )
        trimmed = prefix.strip("/")
        if trimmed and (not _KEY_PREFIX.match(trimmed) or any(part in (".", "..") for part in trimmed.split("/"))):
            raise ConfigError(f"ORDERS_DOCUMENTS_PREFIX={prefix!r} is not a key prefix such as prod/documents")
        key_id, secret = _aws(env, "AWS_ACCESS_KEY_ID"), _aws(env, "AWS_SECRET_ACCESS_KEY")
        if (key_id is None) != (secret is None):
            have, lack = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")[:: 1 if key_id else -1]
            raise ConfigError(f"{have} is set but {lack} is not: set both, or neither to use boto3's own chain")
        return cls(
            bucket=bucket,
            prefix=f"{trimmed}/" if trimmed else "",
            endpoint_url=_endpoint_url(env),
            region=_aws(env, "AWS_REGION", "AWS_DEFAULT_REGION"),
            access_key_id=key_id,
            secret_access_key=secret,
            session_token=_aws(env, "AWS_SESSION_TOKEN"),
        )


def _health_address(env: Mapping[str, str]) -> str | None:
    """``ORDERS_HEALTH_ADDRESS``: ``host:port`` of the worker's /healthz and /readyz, or None (off)."""
    raw = env.get(HEALTH_ADDRESS_ENV, "").strip()
    if not raw:
        return None
    try:
        split_address(raw)
    except ValueError:
        raise ConfigError(f"{HEALTH_ADDRESS_ENV}={raw!r} is not host:port such as 0.0.0.0:8088") from None
    return raw


# Worker versioning: the project's names first, then the ones the Temporal Worker Controller
# sets in the versioned Deployments it creates (deploy/k8s/versioning).
DEPLOYMENT_NAME_ENVS = ("ORDERS_DEPLOYMENT_NAME", "TEMPORAL_DEPLOYMENT_NAME")
BUILD_ID_ENVS = ("ORDERS_BUILD_ID", "TEMPORAL_WORKER_BUILD_ID")
MAX_VERSION_PART = 255


@dataclass(frozen=True)
class WorkerVersion:
    """The Worker Deployment and build this worker belongs to (Temporal worker versioning)."""

    deployment_name: str
    build_id: str


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return name, value
    return None


def _worker_version(env: Mapping[str, str]) -> WorkerVersion | None:
    """Both of ``ORDERS_DEPLOYMENT_NAME`` and ``ORDERS_BUILD_ID`` (or the controller's), or neither."""
    name, build = _first(env, DEPLOYMENT_NAME_ENVS), _first(env, BUILD_ID_ENVS)
    if name is None and build is None:
        return None
    if name is None or build is None:
        have, lack = (name, BUILD_ID_ENVS[0]) if name else (build, DEPLOYMENT_NAME_ENVS[0])
        assert have is not None
        raise ConfigError(f"{have[0]} is set but {lack} is not: worker versioning needs both, or neither")
    for var, value in (name, build):
        if len(value) > MAX_VERSION_PART or any(c.isspace() for c in value):
            raise ConfigError(f"{var}={value!r} must be at most {MAX_VERSION_PART} characters, without spaces")
    if "." in name[1]:
        # Temporal writes a version as <deployment name>.<build id>.
        raise ConfigError(f"{name[0]}={name[1]!r} must not contain a dot")
    return WorkerVersion(deployment_name=name[1], build_id=build[1])


@dataclass(frozen=True)
class Settings:
    outbox_dir: Path = Path(".orders/outbox")
    # Where each confirmation version's PDF is kept (activities/documents.py); the order keeps its hash.
    # None: beside the outbox (``documents_path``), so whatever moves the outbox moves the documents too.
    documents_dir: Path | None = None
    # Set (``ORDERS_DOCUMENTS_BUCKET``), the documents are kept in this S3 bucket instead.
    documents_bucket: DocumentBucket | None = None
    from_email: str = "orders@example.com"
    from_name: str = "Example IT Services"
    company_name: str = "Example IT Services"
    ops_email: str = "ops@example.com"
    support_email: str = "support@example.com"
    reply_to: str | None = None
    # The address SendGrid Inbound Parse receives; set, customer mail carries Reply-To orders+<id>@its domain.
    inbound_address: str | None = None
    web_base_url: str = "http://localhost:8000"
    bank_account_name: str = "Example IT Services Ltd"
    bank_iban: str = "DE89 3704 0044 0532 0130 00"
    bank_bic: str = "COBADEFFXXX"
    bank_name: str = "Example Bank"
    metrics_address: str | None = None
    policy: OrderPolicy = field(default_factory=OrderPolicy)
    email_backend: EmailBackendName = "outbox"
    # A secret: kept out of repr() so that it never lands in a log line or traceback.
    sendgrid_api_key: str | None = field(default=None, repr=False)
    sendgrid_api_base: str = SENDGRID_DEFAULT_HOST
    sendgrid_sandbox: bool = False
    sendgrid_timeout: float = SENDGRID_DEFAULT_TIMEOUT
    sendgrid_templates: dict[str, str] = field(default_factory=dict, hash=False)
    # Stripe is used when the key is set. Secrets are kept out of repr().
    stripe_api_key: str | None = field(default=None, repr=False)
    stripe_api_base: str | None = None
    stripe_timeout: float = STRIPE_DEFAULT_TIMEOUT
    # Set only by `orders dev --stripe-test-double` (not an environment variable): Stripe is
    # the local double, and the portal's pages say so.
    stripe_test_double: bool = False
    # Key of the signed action links in emails (ordersecurity/links.py); None sends plain links.
    link_secret: str | None = field(default=None, repr=False)
    # How long the worker keeps retrying a Temporal server that is not up yet.
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    # SQLite record of the messages SendGrid accepted (activities/email_ledger.py);
    # None keeps it in the worker's memory only. from_env puts it in the outbox directory.
    email_ledger: Path | None = None
    # How many orders the worker keeps cached between their workflow tasks (0: replay every task).
    max_cached_workflows: int = DEFAULT_MAX_CACHED_WORKFLOWS
    # How long a closed order's overview stays readable on the portal, and how long
    # the overview link in each customer email works after it was sent.
    closed_order_visible: timedelta = DEFAULT_CLOSED_ORDER_VISIBLE
    # Read timeouts and trusted proxies of the portal and the webhook receiver.
    http: HttpLimits = field(default_factory=HttpLimits)
    # Where the worker answers Kubernetes' probes (orderclient/health.py); None: no endpoint.
    health_address: str | None = None
    # Set, the worker joins this Worker Deployment version (worker versioning); None: unversioned.
    worker_version: WorkerVersion | None = None

    @property
    def bank_details(self) -> dict[str, str]:
        """What a customer needs to pay by bank transfer (with the order's reference)."""
        return {
            "account_name": self.bank_account_name,
            "iban": self.bank_iban,
            "bic": self.bank_bic,
            "bank_name": self.bank_name,
        }

    @property
    def documents_path(self) -> Path:
        """``ORDERS_DOCUMENTS_DIR``, else ``documents`` beside the outbox (``.orders/documents``)."""
        return self.documents_dir or self.outbox_dir.parent / "documents"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        defaults = cls()

        def get(var: str, default: str) -> str:
            return env.get(var) or default

        return cls(
            outbox_dir=Path(get("ORDERS_OUTBOX_DIR", str(defaults.outbox_dir))),
            from_email=get("ORDERS_FROM_EMAIL", defaults.from_email),
            from_name=get("ORDERS_FROM_NAME", defaults.from_name),
            company_name=get("ORDERS_COMPANY_NAME", defaults.company_name),
            ops_email=get("ORDERS_OPS_EMAIL", defaults.ops_email),
            support_email=get("ORDERS_SUPPORT_EMAIL", defaults.support_email),
            reply_to=env.get("ORDERS_REPLY_TO") or None,
            inbound_address=_inbound_address(env),
            web_base_url=get("ORDERS_WEB_BASE_URL", defaults.web_base_url).rstrip("/"),
            bank_account_name=get("ORDERS_BANK_ACCOUNT_NAME", defaults.bank_account_name),
            bank_iban=get("ORDERS_BANK_IBAN", defaults.bank_iban),
            bank_bic=get("ORDERS_BANK_BIC", defaults.bank_bic),
            bank_name=get("ORDERS_BANK_NAME", defaults.bank_name),
            metrics_address=env.get("ORDERS_METRICS_ADDRESS") or None,
            policy=_policy_from_env(env),
            email_backend=_email_backend(env),
            sendgrid_api_key=env.get("SENDGRID_API_KEY", "").strip() or None,
            sendgrid_api_base=_base_url(env, "SENDGRID_API_BASE", SENDGRID_DEFAULT_HOST) or SENDGRID_DEFAULT_HOST,
            sendgrid_sandbox=_flag(env, "SENDGRID_SANDBOX"),
            sendgrid_timeout=_seconds(env, "SENDGRID_TIMEOUT", SENDGRID_DEFAULT_TIMEOUT, SENDGRID_MAX_TIMEOUT),
            sendgrid_templates=parse_sendgrid_templates(env.get("SENDGRID_TEMPLATES", "")),
            stripe_api_key=env.get("STRIPE_API_KEY", "").strip() or None,
            stripe_api_base=_base_url(env, "STRIPE_API_BASE", "https://api.stripe.com"),
            stripe_timeout=_seconds(env, "STRIPE_TIMEOUT", STRIPE_DEFAULT_TIMEOUT, STRIPE_MAX_TIMEOUT),
            link_secret=_link_secret(env),
            connect_timeout=_seconds(env, "ORDERS_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT, MAX_CONNECT_TIMEOUT),
            documents_dir=Path(env["ORDERS_DOCUMENTS_DIR"]) if env.get("ORDERS_DOCUMENTS_DIR") else None,
            documents_bucket=DocumentBucket.from_env(env),
            email_ledger=_email_ledger(env, Path(get("ORDERS_OUTBOX_DIR", str(defaults.outbox_dir)))),
            max_cached_workflows=_count(
                env, "ORDERS_MAX_CACHED_WORKFLOWS", DEFAULT_MAX_CACHED_WORKFLOWS, MAX_MAX_CACHED_WORKFLOWS
            ),
            closed_order_visible=_closed_order_visible(env),
            http=HttpLimits.from_env(env),
            health_address=_health_address(env),
            worker_version=_worker_version(env),
        )
