"""The Stripe double, as the tests have always imported it.

It lives in ``starter/stripe_double/`` now, in an installed package, because
``orders dev --stripe-test-double`` serves it to people trying the card path
without a Stripe account. The tests use that same double.
"""

from starter.stripe_double import (
    API_VERSION,
    TEST_API_KEY,
    TEST_CARDS,
    Hold,
    RecordedRequest,
    StripeDouble,
    error_body,
    serve,
    sign,
)

__all__ = [
    "API_VERSION",
    "TEST_API_KEY",
    "TEST_CARDS",
    "Hold",
    "RecordedRequest",
    "StripeDouble",
    "error_body",
    "serve",
    "sign",
]
