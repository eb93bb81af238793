"""Every action, declared once: its name, its model, when and by whom it may be sent.

Everything else is derived from ``REGISTRY``:

- the workflow's dynamic signal and update handlers decode with ``model``
  (``workflows/handlers.py``), and its rules refuse an action outside ``stages``
  (``workflows/rules.py``);
- ``OrderClient.act`` finds the action from the model it is given, and
  ``orders schema`` publishes each ``model`` as JSON Schema;
- the CLI builds one subcommand per ``command`` from ``args``;
- the signed links in emails may act only for an action whose ``link_page``
  is the page the link opens (``ordersecurity/links.py``), and the portal posts
  those forms.

Adding an action is this entry, its model (``workflows/models/actions.py``), its
rule when it needs more than a stage check (``rules.CHECKS``), and its effect
(a method marked ``@effect_of(name)`` in ``workflows/order.py``). Tests check that
each entry has exactly one effect and that every name is unique.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from workflows import names
from workflows.models import (
    AcceptInput,
    Action,
    AddNoteInput,
    ApproveInput,
    CancelInput,
    DeliverInput,
    ExtendDeadlineInput,
    IssueConfirmationInput,
    OrderStatus,
    PaymentEventInput,
    PaymentFailedInput,
    PostUpdateInput,
    ProvidePaymentMethodInput,
    RecordPaymentInput,
    RequestChangesInput,
    RequestRevisionInput,
    SupportRequestInput,
    UpdateCustomerInput,
)

Sender = Literal["staff", "customer", "webhook"]
"""Who sends an action: staff (CLI, back office), the customer (a signed link,
the CLI on their behalf), or a payment provider's webhook."""

S = OrderStatus
OPEN: Final = frozenset(s for s in S if not s.is_final)
EVERY: Final = frozenset(S)


@dataclass(frozen=True)
class Arg:
    """One field of an action's model as a command-line argument of ``orders``."""

    field: str
    flag: str | None = None
    """``--flag``; None makes it positional (the field's name, upper-cased, is shown)."""
    help: str = ""
    required: bool = False
    choices: tuple[str, ...] | None = None
    repeat: bool = False
    """A list field: the flag may be given more than once."""
    integer: bool = False
    from_file: bool = False
    """The value is a JSON file's path; the file's content is the field."""
    one_of: str | None = None
    """Arguments with the same ``one_of`` exclude each other, and one of them is required."""


@dataclass(frozen=True)
class ActionSpec:
    name: str
    model: type[Action]
    stages: frozenset[OrderStatus]
    """The statuses in which the action may arrive; any other is refused."""
    senders: frozenset[Sender]
    summary: str
    """One line: what the action does (the CLI's help)."""
    command: str | None = None
    """The ``orders`` subcommand; None: not sent from the command line."""
    args: tuple[Arg, ...] = ()
    link_page: str | None = None
    """The signed-link page that may send it on the customer's behalf."""
    needs_policy: bool = False
    """Its effect reads the worker's default durations, which load in the order's first task."""


def _specs(*specs: ActionSpec) -> dict[str, ActionSpec]:
    """The registry by name; a name, a model or a command used twice is a mistake caught at import."""
    for what, values in (
        ("name", [s.name for s in specs]),
        ("model", [s.model.__name__ for s in specs]),
        ("command", [s.command for s in specs if s.command]),
    ):
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise ValueError(f"the same {what} is declared for two actions: {', '.join(twice)}")
    return {spec.name: spec for spec in specs}


REGISTRY: Final[dict[str, ActionSpec]] = _specs(
    ActionSpec(
        names.ADD_NOTE,
        AddNoteInput,
        OPEN,
        frozenset({"staff", "customer"}),
        "add an internal or customer note",
        command="note",
        args=(
            Arg("text"),
            Arg("author", "--author", choices=("staff", "customer")),
            Arg("author_name", "--author-name"),
        ),
    ),
    ActionSpec(
        names.UPDATE_CUSTOMER,
        UpdateCustomerInput,
        OPEN,
        frozenset({"staff"}),
        "correct the customer's contact details",
        command="update-customer",
        args=(Arg("name", "--name"), Arg("email", "--email"), Arg("company", "--company"), Arg("phone", "--phone")),
    ),
    ActionSpec(
        names.ISSUE_CONFIRMATION,
        IssueConfirmationInput,
        # After approval, a new version is a change order, issued while the work goes on (the rules
        # refuse one before the work starts and after acceptance, saying why).
        OPEN,
        frozenset({"staff"}),
        "issue the next version of the order confirmation (while the work goes on: a change order)",
        command="confirm",
        args=(
            Arg(
                "confirmation",
                "--file",
                help="ConfirmationDraft JSON (see examples/confirmation.json)",
                required=True,
                from_file=True,
            ),
            Arg("issued_by", "--issued-by"),
        ),
    ),
    ActionSpec(
        names.APPROVE,
        ApproveInput,
        frozenset({S.AWAITING_APPROVAL, S.IN_PROGRESS, S.AWAITING_ACCEPTANCE}),
        frozenset({"customer"}),
        "approve a confirmation version or a change order (for the customer)",
        command="approve",
        args=(Arg("version", "--version", required=True, integer=True),),
        link_page="confirmation",
    ),
    ActionSpec(
        names.REQUEST_CHANGES,
        RequestChangesInput,
        frozenset({S.AWAITING_APPROVAL, S.IN_PROGRESS, S.AWAITING_ACCEPTANCE}),
        frozenset({"customer"}),
        "ask for changes to a confirmation version, or decline a change order (for the customer)",
        command="request-changes",
        args=(Arg("version", "--version", required=True, integer=True), Arg("comments")),
        link_page="confirmation",
    ),
    ActionSpec(
        names.RECORD_PAYMENT,
        RecordPaymentInput,
        # Money is never refused, whatever the status: what cannot be counted
        # (before approval, after the order closed) is held and sent to operations.
        EVERY,
        frozenset({"staff", "webhook"}),
        "record a payment received",
        command="pay",
        args=(
            Arg("amount", "--amount", help="e.g. 1200.00", required=True),
            Arg("reference", "--reference", required=True),
            Arg("method", "--method", help="bank_transfer, card or invoice"),
            Arg("currency", "--currency", help="the payment's currency, e.g. EUR (default: the order's)"),
        ),
    ),
    ActionSpec(
        names.POST_UPDATE,
        PostUpdateInput,
        frozenset({S.IN_PROGRESS}),
        frozenset({"staff"}),
        "post a progress update",
        command="update",
        args=(Arg("text"), Arg("milestone", "--milestone", help="name of the milestone this update completes")),
    ),
    ActionSpec(
        names.DELIVER,
        DeliverInput,
        frozenset({S.IN_PROGRESS}),
        frozenset({"staff"}),
        "deliver the work",
        command="deliver",
        args=(
            Arg("summary"),
            Arg("links", "--link", help="a link to the result (repeatable)", repeat=True),
            Arg("access_instructions", "--access", help="access instructions"),
        ),
        needs_policy=True,
    ),
    ActionSpec(
        names.ACCEPT,
        AcceptInput,
        frozenset({S.AWAITING_ACCEPTANCE}),
        frozenset({"customer"}),
        "accept the delivery (for the customer)",
        command="accept",
        args=(
            Arg("comments", "--comments"),
            Arg("round", "--round", help="the delivery round this answers (refused if not the latest)", integer=True),
        ),
        link_page="delivery",
        needs_policy=True,
    ),
    ActionSpec(
        names.REQUEST_REVISION,
        RequestRevisionInput,
        frozenset({S.AWAITING_ACCEPTANCE}),
        frozenset({"customer"}),
        "ask for a revision of the delivery (for the customer)",
        command="request-revision",
        args=(
            Arg("comments"),
            Arg("round", "--round", help="the delivery round this answers (refused if not the latest)", integer=True),
        ),
        link_page="delivery",
    ),
    ActionSpec(
        names.REQUEST_SUPPORT,
        SupportRequestInput,
        frozenset({S.IN_SUPPORT}),
        frozenset({"customer", "staff"}),
        "raise a support request",
        command="support",
        args=(Arg("subject"), Arg("text")),
        link_page="support",
    ),
    ActionSpec(
        names.CANCEL,
        CancelInput,
        frozenset({S.DISCUSSING, S.AWAITING_APPROVAL, S.AWAITING_PAYMENT, S.IN_PROGRESS}),
        frozenset({"staff", "customer"}),
        "cancel the order",
        command="cancel",
        args=(Arg("reason"), Arg("by", "--by", choices=("staff", "customer"))),
    ),
    ActionSpec(
        names.PROVIDE_PAYMENT_METHOD,
        ProvidePaymentMethodInput,
        # A card may be saved before approval; it is charged once payment is due. With a payment
        # schedule it may be given later too, for the instalments that fall due after work starts.
        frozenset(
            {
                S.DISCUSSING,
                S.AWAITING_APPROVAL,
                S.AWAITING_PAYMENT,
                S.IN_PROGRESS,
                S.AWAITING_ACCEPTANCE,
                S.IN_SUPPORT,
                S.AWAITING_FINAL_PAYMENT,
            }
        ),
        frozenset({"customer", "webhook"}),
        "charge a card the customer saved with Stripe",
        command="card",
        args=(
            Arg("stripe_customer_id", "--customer", help="Stripe customer id, cus_...", required=True),
            Arg("payment_method_id", "--payment-method", help="Stripe PaymentMethod id, pm_...", required=True),
        ),
        link_page="pay",
    ),
    ActionSpec(
        names.PAYMENT_FAILED,
        PaymentFailedInput,
        frozenset({S.AWAITING_PAYMENT}),
        frozenset({"webhook"}),
        "a payment the provider could not take",
    ),
    ActionSpec(
        names.PAYMENT_EVENT,
        PaymentEventInput,
        # Voids and refunds are reported after a cancellation, while it settles,
        # and a refund can fail days after the order closed.
        EVERY,
        frozenset({"webhook"}),
        "something the payment provider reports that needs no decision",
    ),
    ActionSpec(
        names.EXTEND_DEADLINE,
        ExtendDeadlineInput,
        frozenset({S.AWAITING_PAYMENT, S.IN_PROGRESS, S.AWAITING_ACCEPTANCE, S.IN_SUPPORT, S.AWAITING_FINAL_PAYMENT}),
        frozenset({"staff"}),
        "move a running deadline (payment, a milestone, the review period or an instalment)",
        command="extend-deadline",
        args=(
            Arg("target", help="payment_due, milestone, review_period or instalment"),
            Arg("milestone", "--milestone", help="the milestone's name, when TARGET is milestone"),
            Arg("instalment", "--instalment", help="the instalment's name, when TARGET is instalment"),
            Arg("extend_by", "--by", help="move it by an ISO 8601 duration, e.g. P7D", one_of="when"),
            Arg("new_due_at", "--to", help="the new deadline, e.g. 2026-12-24T17:00:00+01:00", one_of="when"),
            Arg("reason", "--reason"),
        ),
        needs_policy=True,
    ),
)
"""Every action by name (its signal and update name), in the order the CLI lists them."""

ACTION_NAMES: Final = tuple(REGISTRY)

ACTION_MODELS: Final[dict[str, type[Action]]] = {name: spec.model for name, spec in REGISTRY.items()}
"""The one model each action takes, by action name."""

BY_MODEL: Final[dict[type[Action], ActionSpec]] = {spec.model: spec for spec in REGISTRY.values()}
"""Each model belongs to exactly one action, so a model names its action."""

BY_COMMAND: Final[dict[str, ActionSpec]] = {spec.command: spec for spec in REGISTRY.values() if spec.command}


def link_actions(page: str) -> frozenset[str]:
    """The actions a signed link to ``page`` may send on the customer's behalf."""
    return frozenset(spec.name for spec in REGISTRY.values() if spec.link_page == page)


def spec_of(request: Action) -> ActionSpec:
    """The action a model instance is the payload of."""
    spec = BY_MODEL.get(type(request))
    if spec is None:
        raise TypeError(f"{type(request).__name__} is not the payload of any action")
    return spec
