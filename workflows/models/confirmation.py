"""Starting an order (seed 1.1) and its order confirmation: line items, costs and terms (seed 1.3)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from workflows.models.evidence import Evidence
from workflows.models.fields import (
    MAX_TOTAL,
    ConfirmationState,
    Currency,
    Duration,
    Email,
    Model,
    Money,
    NonNegativeMoney,
    Offset,
    OrderId,
    PaymentMethod,
    Percent,
    PositiveMoney,
    Quantity,
    ShortText,
)
from workflows.money import amount_problem
from workflows.schedule import DUE_EVENTS, MAX_INSTALMENTS, MILESTONE_PREFIX, instalment_amounts, milestone_of

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


_DURATION = TypeAdapter(Duration)


def _due_form(due: str) -> str:
    """``approval``, ``milestone:<name>``, ``delivery``, ``acceptance`` or a duration after
    approval (``P30D``, bounded like every other duration of the terms)."""
    if due in DUE_EVENTS:
        return due
    if due.startswith(MILESTONE_PREFIX):
        name = milestone_of(due)
        if name is None:
            raise ValueError(f"{due!r} names no milestone; write milestone:<name>, for example milestone:Design")
        return MILESTONE_PREFIX + name
    if due.startswith("P"):
        try:
            _DURATION.validate_python(due)
        except ValidationError as error:
            kind = error.errors()[0]["type"]
            if kind == "greater_than":
                raise ValueError(f"{due!r}: the time after approval must be longer than zero") from None
            if kind == "less_than_equal":
                raise ValueError(f"{due!r}: the time after approval must be at most ten years") from None
            raise ValueError(f"{due!r} is not an ISO 8601 duration (for example P30D)") from None
        return due
    raise ValueError(
        f"{due!r} is not a time an instalment can fall due; use approval, milestone:<name>, delivery, "
        "acceptance or a time after approval such as P30D"
    )


InstalmentDue = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=220), AfterValidator(_due_form)
]


class Instalment(Model):
    """One part of the total, with when it falls due. Exactly one of ``percent`` and ``amount``."""

    name: ShortText
    percent: Percent | None = Field(default=None, description='A share of the total, such as "30".')
    amount: PositiveMoney | None = Field(default=None, description="A fixed amount in the confirmation's currency.")
    due: InstalmentDue = Field(
        description="approval, milestone:<name> (a milestone of these terms), delivery, acceptance, "
        "or an ISO 8601 duration after approval such as P30D."
    )

    @model_validator(mode="after")
    def _percent_or_amount(self) -> Instalment:
        if self.percent is not None and self.amount is not None:
            raise ValueError(f"instalment {self.name!r} has both a percent and an amount; give one of them")
        if self.percent is None and self.amount is None:
            raise ValueError(f"instalment {self.name!r} has neither a percent nor an amount; give one of them")
        return self


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
    payment_schedule: list[Instalment] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_INSTALMENTS,
        # Left out of the JSON when there is none, so an order without a schedule reads exactly as before.
        exclude_if=lambda schedule: schedule is None,
        description="Instalments of the total; without one, the total is paid in one payment due on approval.",
    )
    payment_reminders: list[Offset] | None = Field(
        default=None,
        min_length=1,
        max_length=10,
        exclude_if=lambda offsets: offsets is None,
        description=(
            "When an instalment that falls due after work starts is reminded of, relative to its due date"
            " (-P3D three days before, P0D on the day, P7D a week after); operations are told after the last."
            " Left out: -P3D, P0D, P7D."
        ),
    )

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

    @field_validator("payment_schedule")
    @classmethod
    def _instalment_names_differ(cls, schedule: list[Instalment] | None) -> list[Instalment] | None:
        # Payments, emails and the portal name the instalment: two "Deposit"s could not be told apart.
        seen: dict[str, str] = {}
        for instalment in schedule or []:
            key = instalment.name.casefold()
            if key in seen:
                raise ValueError(f"two instalments are called {seen[key]!r}; give each instalment its own name")
            seen[key] = instalment.name
        return schedule


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

    def _schedule_problems(self) -> list[str]:
        """A schedule must add up to the total, in percents or in amounts, never a mix of the two
        (a mix leaves unclear what a percent is a percent of once an amount is taken off), and
        each instalment must be due on something these terms have."""
        schedule = self.terms.payment_schedule
        if schedule is None:
            return []
        problems = self._unknown_milestones(schedule)
        with_percent = [i.name for i in schedule if i.percent is not None]
        with_amount = [i.name for i in schedule if i.amount is not None]
        if with_percent and with_amount:
            problems.append(
                "terms.payment_schedule: give every instalment a percent, or every instalment an amount, "
                f"not a mix ({_names(with_percent)} with a percent, {_names(with_amount)} with an amount)"
            )
        elif with_amount:
            problems += self._amount_problems(schedule)
        else:
            problems += self._percent_problems(schedule)
        return problems

    def _unknown_milestones(self, schedule: list[Instalment]) -> list[str]:
        known = {m.name.casefold() for m in self.terms.milestones}
        listed = ", ".join(m.name for m in self.terms.milestones) or "none"
        return [
            f"terms.payment_schedule.{n}.due: instalment {instalment.name!r} is due on milestone {name!r}, "
            f"which these terms do not have; milestones: {listed}"
            for n, instalment in enumerate(schedule)
            if (name := milestone_of(instalment.due)) is not None and name.casefold() not in known
        ]

    def _amount_problems(self, schedule: list[Instalment]) -> list[str]:
        problems: list[str] = []
        for n, instalment in enumerate(schedule):
            problem = amount_problem(instalment.amount or Decimal(0), self.currency)
            if problem:
                problems.append(f"terms.payment_schedule.{n}.amount: {problem}")
        added = sum((i.amount or Decimal(0) for i in schedule), Decimal("0.00"))
        if added != self.total:
            problems.append(f"terms.payment_schedule: the amounts add up to {added}, not the total {self.total}")
        return problems

    def _percent_problems(self, schedule: list[Instalment]) -> list[str]:
        added = sum((i.percent or Decimal(0) for i in schedule), Decimal(0))
        if added != 100:
            return [f"terms.payment_schedule: the percents add up to {added.normalize():f}, not 100"]
        amounts = instalment_amounts(self.total, self.currency, schedule)
        return [
            f"terms.payment_schedule.{n}.percent: instalment {instalment.name!r} comes to "
            f"{self.currency} {amount}; raise its percent"
            for n, (instalment, amount) in enumerate(zip(schedule, amounts, strict=True))
            if amount <= 0
        ]

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
        if not problems:
            # A schedule is checked against the total, so only once the total itself holds.
            problems += self._schedule_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _names(names: list[str]) -> str:
    return ", ".join(repr(name) for name in names)


class DocumentRef(Model):
    """A document in the worker's document store (activities/document_store.py): the order
    keeps where it is, how long it is and the SHA-256 of its bytes, never the bytes."""

    id: str = Field(description="The store's id, from the order id and the confirmation version.")
    size: int = Field(ge=0, description="Bytes.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the bytes, in hex.")


class Confirmation(ConfirmationDraft):
    """One issued version of the order confirmation."""

    version: int
    issued_at: datetime
    issued_by: str | None = None
    amount_total: Money
    state: ConfirmationState = ConfirmationState.ISSUED
    comments: str | None = None
    comments_at: datetime | None = Field(default=None, description="When the customer asked for changes.")
    approved_at: datetime | None = Field(
        default=None, exclude_if=lambda at: at is None, description="When the customer approved this version."
    )
    change_of: int | None = Field(
        default=None,
        exclude_if=lambda version: version is None,
        description="A change order: the approved version it changes, issued while the work went on.",
    )
    changes: list[str] = Field(
        default_factory=list,
        exclude_if=lambda changes: not changes,
        description="A change order: what it changes from the version it changes, in words.",
    )
    document: DocumentRef | None = Field(
        default=None,
        # Left out of the JSON until there is one, so a version without a PDF reads exactly as before.
        exclude_if=lambda document: document is None,
        description="The version's PDF, once its confirmation email went with it attached.",
    )
    decision: Evidence | None = Field(
        default=None,
        exclude_if=lambda evidence: evidence is None,
        description="Who approved this version or asked for changes to it, how, and on which document.",
    )
