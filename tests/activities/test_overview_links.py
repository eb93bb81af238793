"""Every customer email links to the order's overview, with a link that outlives the order.

The overview link is signed for the ``order`` page, which offers no action: it
opens the read-only overview only. It works for ``ORDERS_CLOSED_ORDER_VISIBLE``
(90 days by default) after the email was sent, so the last email of an order
keeps the finished order readable that long.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from activities.config import ConfigError, Settings
from activities.email import INTERNAL_KINDS, render
from ordersecurity.links import WrongActionLink, verify_link
from tests.activities.email_samples import ORDER_ID, sample_context
from workflows import names
from workflows.models import MessageKind

SECRET = "test-link-secret-0123456789"
CUSTOMER_KINDS = [kind for kind in MessageKind if kind not in INTERNAL_KINDS]
OVERVIEW = re.compile(rf"https://orders\.example\.com/orders/{re.escape(ORDER_ID)}(?:\?token=[\w.-]+)?(?=\s|$|\")")


@pytest.mark.parametrize("kind", CUSTOMER_KINDS, ids=[kind.value for kind in CUSTOMER_KINDS])
def test_every_customer_email_links_to_the_overview(kind: MessageKind) -> None:
    settings = replace(Settings(), web_base_url="https://orders.example.com")
    rendered = render(kind, sample_context(kind), settings)
    assert OVERVIEW.search(rendered.text), rendered.text
    assert f'href="https://orders.example.com/orders/{ORDER_ID}"' in rendered.html


@pytest.mark.parametrize("kind", sorted(INTERNAL_KINDS), ids=[kind.value for kind in sorted(INTERNAL_KINDS)])
def test_staff_notices_have_no_customer_overview_link(kind: MessageKind) -> None:
    settings = replace(Settings(), web_base_url="https://orders.example.com")
    assert not OVERVIEW.search(render(kind, sample_context(kind), settings).text)


def test_the_overview_link_is_signed_for_the_overview_only_and_outlives_the_order() -> None:
    settings = replace(Settings(), web_base_url="https://orders.example.com", link_secret=SECRET)
    before = datetime.now(UTC)
    text = render(MessageKind.SUPPORT_CLOSED, sample_context(MessageKind.SUPPORT_CLOSED), settings).text
    found = OVERVIEW.search(text)
    assert found is not None and "?token=" in found.group(0)
    token = found.group(0).split("?token=")[1]
    claims = verify_link(SECRET, token, now=before, order_id=ORDER_ID)
    assert claims.action == "order"
    assert before + timedelta(days=90, seconds=-1) <= claims.expires_at <= datetime.now(UTC) + timedelta(days=90)
    # It acts on nothing.
    for action in (names.APPROVE, names.ACCEPT, names.REQUEST_SUPPORT, names.PROVIDE_PAYMENT_METHOD):
        with pytest.raises(WrongActionLink):
            verify_link(SECRET, token, now=before, order_id=ORDER_ID, action=action)


def test_how_long_a_closed_order_stays_readable_is_configurable() -> None:
    assert Settings().closed_order_visible == timedelta(days=90)
    assert Settings.from_env({"ORDERS_CLOSED_ORDER_VISIBLE": "P30D"}).closed_order_visible == timedelta(days=30)
    with pytest.raises(ConfigError, match="ORDERS_CLOSED_ORDER_VISIBLE"):
        Settings.from_env({"ORDERS_CLOSED_ORDER_VISIBLE": "soon"})
