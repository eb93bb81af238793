"""What the endpoints work on: the double's Stripe objects, and the faults that script card outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field

from starter.stripe_double.faults import Faults
from starter.stripe_double.objects import Objects


@dataclass
class Store:
    """The Stripe objects by id, in creation order; the double shows each dictionary as its attribute."""

    faults: Faults
    """Where ``decline_next`` and ``require_action_next`` wait for the next charge."""
    checkout_url: str
    """Where Checkout Sessions' ``url`` points: checkout.stripe.com, or the double's own page."""
    customers: Objects = field(default_factory=dict)
    invoices: Objects = field(default_factory=dict)
    invoice_items: Objects = field(default_factory=dict)
    invoice_payments: Objects = field(default_factory=dict)
    payment_intents: Objects = field(default_factory=dict)
    refunds: Objects = field(default_factory=dict)
    checkout_sessions: Objects = field(default_factory=dict)
    setup_intents: Objects = field(default_factory=dict)
    invoice_numbers: int = 0
    """Invoices finalized so far: the next one's number."""
