"""The HTTP client every ``stripe.StripeClient`` here uses: Stripe's ``RequestsClient``,
with a CLIENT span around each request when tracing is on (orderclient/tracing.py).

The span records the method, Stripe's host and the status code: never the
path (it names customers' Stripe objects), the parameters or the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import stripe

from orderclient import tracing


class TracedRequestsClient(stripe.RequestsClient):
    """``stripe.RequestsClient``; each request is one ``POST Stripe`` (or ``GET Stripe``) span."""

    # RequestsClient's own signature, which its stubs already declare incompatible with HTTPClient's.
    def request(  # type: ignore[override]
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        with tracing.http_span("Stripe", method, url) as span:
            content, status, answer_headers = super().request(method, url, headers, post_data)
            span.status(status)
            return content, status, answer_headers


def http_client(timeout: float) -> stripe.RequestsClient:
    """The client for ``stripe.StripeClient(http_client=...)``: ``timeout`` seconds per request."""
    return TracedRequestsClient(timeout=timeout)
