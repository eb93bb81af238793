"""The worker's configuration, read from environment variables.

Every variable is listed in the README's configuration table. Secrets (API
keys) stay here, in the worker process: they are never passed to a workflow,
so they never reach event history.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from pydantic import TypeAdapter

from workflows.models import OrderPolicy

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


class ConfigError(ValueError):
    """A configuration variable holds something unusable; the message names it."""


def _policy_from_env(env: dict[str, str]) -> OrderPolicy:
    values: dict[str, timedelta] = {}
    for name, var in POLICY_ENV.items():
        raw = env.get(var)
        if not raw:
            continue
        try:
            values[name] = _DURATION.validate_python(raw)
        except ValueError:
            raise ConfigError(f"{var}={raw!r} is not an ISO 8601 duration such as P14D or PT2H") from None
    try:
        return OrderPolicy(**values)
    except ValueError as exc:
        raise ConfigError(f"invalid default durations: {exc}") from None


@dataclass(frozen=True)
class Settings:
    outbox_dir: Path = Path(".orders/outbox")
    from_email: str = "orders@example.com"
    from_name: str = "Example IT Services"
    company_name: str = "Example IT Services"
    ops_email: str = "ops@example.com"
    support_email: str = "support@example.com"
    reply_to: str | None = None
    web_base_url: str = "http://localhost:8000"
    bank_account_name: str = "Example IT Services Ltd"
    bank_iban: str = "DE89 3704 0044 0532 0130 00"
    bank_bic: str = "COBADEFFXXX"
    bank_name: str = "Example Bank"
    policy: OrderPolicy = field(default_factory=OrderPolicy)

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
            web_base_url=get("ORDERS_WEB_BASE_URL", defaults.web_base_url).rstrip("/"),
            bank_account_name=get("ORDERS_BANK_ACCOUNT_NAME", defaults.bank_account_name),
            bank_iban=get("ORDERS_BANK_IBAN", defaults.bank_iban),
            bank_bic=get("ORDERS_BANK_BIC", defaults.bank_bic),
            bank_name=get("ORDERS_BANK_NAME", defaults.bank_name),
            policy=_policy_from_env(env),
        )
