"""Starting an order (seed 1.1) and its order confirmation: line items, costs and terms (seed 1.3)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from workflows.models.fields import (
    MAX_TOTAL,
    ConfirmationState,
    Currency,
    Duration,
    Email,
    Model,
    Money,
    NonNegativeMoney,
    OrderId,
    PaymentMethod,
    Quantity,
    ShortText,
)
from workflows.money import amount_problem

# --------------------------------------------------------------------------
# Starting an order (seed 1.1)
# --------------------------------------------------------------------------


class Customer(Model):
    name: ShortText
    email: Email
    company: ShortText | None = None
    phone: ShortText | None = None
    customer_ref: OrderId | None = Field(
        default=None,
        description="Opaque customer id from the CRM; the only customer datum put in search attributes.",
    )


# --------------------------------------------------------------------------
# The order confirmation (seed 1.3)
# --------------------------------------------------------------------------


class LineItem(Model):
    description: ShortText
    quantity: Quantity = Decimal(1)
    unit_price: NonNegativeMoney

    @property
    def amount(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(Decimal("0.01"))


class MilestoneTerm(Model):
    name: ShortText
    due: Duration = Field(description="Offset from the start of work, ISO 8601.")


class Terms(Model):
    """Every term of the deal. A duration left out takes the worker's default."""

    payment_methods: list[PaymentMethod] = Field(default_factory=lambda: [PaymentMethod.BANK_TRANSFER], min_length=1)
    payment_due: Duration | None = None
    payment_grace: Duration | None = None
    milestones: list[MilestoneTerm] = Field(default_factory=list, max_length=50)
    estimated_delivery: Duration | None = None
    review_period: Duration | None = None
    deemed_acceptance: bool = True
    support_period: Duration | None = None
    support_scope: ShortText = "Questions and defect fixes by email"
    confirmation_expiry: Duration | None = None
    reminder_interval: Duration | None = Field(
        default=None, description="How long after a confirmation is issued the customer is reminded."
    )
    update_interval: Duration | None = Field(
        default=None, description="Longest silence during the work before a digest goes out."
    )
    cancellation_fee: NonNegativeMoney = Decimal("0.00")
    other_terms: list[ShortText] = Field(default_factory=list, max_length=50)

    @field_validator("milestones")
    @classmethod
    def _milestone_names_differ(cls, milestones: list[MilestoneTerm]) -> list[MilestoneTerm]:
        # Updates name the milestone they complete: a second "Design" could never be completed.
        seen: dict[str, str] = {}
        for milestone in milestones:
            key = milestone.name.casefold()
            if key in seen:
                raise ValueError(f"two milestones are called {seen[key]!r}; give each milestone its own name")
            seen[key] = milestone.name
        return milestones


class ConfirmationDraft(Model):
    """What staff write: the order confirmation file of ``orders confirm``."""

    title: ShortText | None = None
    currency: Currency = "EUR"
    line_items: list[LineItem] = Field(min_length=1, max_length=100)
    terms: Terms = Field(default_factory=Terms)

    @property
    def total(self) -> Decimal:
        return sum((item.amount for item in self.line_items), Decimal("0.00"))

    def _uncarried_amounts(self) -> list[str]:
        """Amounts the currency cannot carry, refused when issued, not days later when the charge
        fails. A line's amount and the total are named only when no price explains them."""
        problems: list[str] = []
        for n, item in enumerate(self.line_items):
            for field, amount in (
                (f"line_items.{n}.unit_price", item.unit_price),
                (f"line_items.{n}.amount", item.amount),
            ):
                problem = amount_problem(amount, self.currency)
                if problem:
                    problems.append(f"{field}: {problem}")
                    break
        for field, amount in (("total", self.total), ("terms.cancellation_fee", self.terms.cancellation_fee)):
            problem = amount_problem(amount, self.currency)
            if problem and not (field == "total" and problems):
                problems.append(f"{field}: {problem}")
        return problems

    @model_validator(mode="after")
    def _amounts_fit(self) -> ConfirmationDraft:
        """Every problem with the amounts at once, each naming its field: a staff member
        fixing a file should not discover them one run at a time."""
        problems: list[str] = []
        if self.total > MAX_TOTAL:
            problems.append(f"the total {self.total} is larger than {MAX_TOTAL}")
        if self.terms.cancellation_fee > self.total:
            problems.append(
                f"terms.cancellation_fee: the cancellation fee {self.terms.cancellation_fee} is more than "
                f"the total {self.total}"
            )
        problems += self._uncarried_amounts()
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Confirmation(ConfirmationDraft):
    """One issued version of the order confirmation."""

    version: int
    issued_at: datetime
    issued_by: str | None = None
    amount_total: Money
    state: ConfirmationState = ConfirmationState.ISSUED
    comments: str | None = None
    comments_at: datetime | None = Field(default=None, description="When the customer asked for changes.")
