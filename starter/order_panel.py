"""How ``orders status`` shows an order: a panel of tables, one per part of the order, that fit
the terminal (and plain lines for a pipe)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from rich import box
from rich.console import Group
from rich.panel import Panel
from rich.table import Column, Table
from rich.text import Text

from starter import console
from workflows.models import Confirmation, ConfirmationState, OrderView, TimelineKind
from workflows.models.evidence import Evidence
from workflows.models.view import InstalmentBill, InstalmentStatus


def when(value: datetime | str | None) -> str:
    """Every time the CLI prints is in UTC and says so, as the emails and the UI do:
    ``2026-12-23 01:11 UTC``. A time without a zone is taken as UTC."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def add_row(table: Table, *cells: str, style: str | None = None, cut_last: bool = True) -> None:
    """Add a row of plain text: order data is never read as rich markup.

    The last column is the table's free text: it stays on one line and is cut
    with an ellipsis when the terminal is narrow (``cut_last=False`` wraps it
    instead); the other columns keep their width.
    """
    last = len(cells) - 1 if cut_last else -1
    table.add_row(
        *(Text(cell, no_wrap=True, overflow="ellipsis") if i == last else Text(cell) for i, cell in enumerate(cells)),
        style=style,
    )


def new_table(title: str, *columns: str) -> Table:
    """A table whose last column gives way on a narrow terminal; the others never wrap."""
    *fixed, free = columns
    return Table(
        *(Column(name, no_wrap=True) for name in fixed),
        Column(free),
        title=title or None,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        title_style="bold",
        show_edge=False,
        padding=(0, 1, 0, 0),  # with the box's separator: two spaces between columns
    )


def show(renderable: Any) -> None:
    """Print for a person on a terminal, or as plain rows for a pipe or a file."""
    if console.out.is_terminal:
        console.out.print(renderable)
        return
    for line in plain_lines(renderable):
        print(line)


def _plain_cell(cell: Any) -> str:
    text = cell.plain if isinstance(cell, Text) else str(cell)
    return " ".join(text.split())


def plain_lines(renderable: Any) -> list[str]:
    """Plain rows: one line per table row, cells separated by tabs, nothing cut or
    wrapped; a title, a header and a caption on lines of their own."""
    if isinstance(renderable, Group):
        lines: list[str] = []
        for part in renderable.renderables:
            section = plain_lines(part)
            if section and lines:
                lines.append("")
            lines += section
        return lines
    if isinstance(renderable, Panel):
        title = [_plain_cell(renderable.title), ""] if renderable.title else []
        return title + plain_lines(renderable.renderable)
    if not isinstance(renderable, Table):
        return [line for line in (_plain_cell(renderable),) if line]
    lines = []
    if renderable.title:
        lines.append(_plain_cell(renderable.title))
    if renderable.show_header:
        lines.append("\t".join(_plain_cell(c.header) for c in renderable.columns))
    columns = [list(c.cells) for c in renderable.columns]
    for row in zip(*columns, strict=True):
        lines.append("\t".join(_plain_cell(cell) for cell in row))
    if renderable.caption:
        lines.append(_plain_cell(renderable.caption))
    return lines


def render_view(view: OrderView) -> Panel:
    parts: list[Any] = [_summary(view)]
    sections = (
        _confirmations,
        _payments,
        _instalments,
        _charges,
        _milestones,
        _updates,
        _deliveries,
        _decisions,
        _support,
        _timeline,
    )
    for section in (*sections, _rejected, _failed_emails):
        table = section(view)
        if table is not None:
            parts += [Text(""), table]
    return Panel(Group(*parts), title=f"Order {view.order_id}", subtitle=str(view.status), expand=False)


def _summary(view: OrderView) -> Table:
    c = view.customer
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    add_row(grid, "Status", str(view.status), cut_last=False)
    who = ", ".join(x for x in (c.name, c.company, c.email, c.phone) if x)
    add_row(grid, "Customer", who, cut_last=False)
    add_row(grid, "Channel", f"{view.channel} · since {when(view.created_at)}", cut_last=False)
    add_row(grid, "Request", view.first_message[:200], cut_last=False)
    if view.total is not None:
        add_row(grid, "Total", f"{view.total} {view.currency or ''}", cut_last=False)
    if view.next_deadline:
        add_row(grid, "Next deadline", f"{when(view.next_deadline.at)}: {view.next_deadline.what}", cut_last=False)
    if view.cancellation:
        x = view.cancellation
        add_row(grid, "Cancelled", f"{when(x.at)} by {x.by}: {x.reason}", cut_last=False)
    return grid


def _confirmations(view: OrderView) -> Table | Group | None:
    if not view.confirmations:
        return None
    table = new_table("Confirmations", "Version", "Total", "Issued", "State", "Title")
    for c in view.confirmations:
        state = _state(c)
        add_row(table, str(c.version), f"{c.amount_total} {c.currency}", when(c.issued_at), state, c.title or "")
    parts: list[Any] = [table]
    contract = _contract(view)
    if contract is not None:
        parts = [contract, Text(""), table]
    asked = [c for c in view.confirmations if c.comments]
    if asked:
        # What the customer asked for is what staff must act on: shown whole, wrapped, never cut.
        requests = new_table("Changes the customer asked for", "Version", "Comments")
        for c in asked:
            add_row(requests, str(c.version), c.comments or "", cut_last=False)
        parts += [Text(""), requests]
    return table if len(parts) == 1 else Group(*parts)


CHANGE_ORDER_STATES: Final = {ConfirmationState.CHANGES_REQUESTED: "declined"}
"""A change order the customer asked to change is declined: the version it changes stays in force."""


def _state(c: Confirmation) -> str:
    """A confirmation's state; a change order's also says which version it changes."""
    if c.change_of is None:
        return str(c.state)
    return f"change order of v{c.change_of}: {CHANGE_ORDER_STATES.get(c.state, str(c.state))}"


def _contract(view: OrderView) -> Table | None:
    """Once the order has change orders, its contract's history: each approved version, oldest
    first, with what it changed, and the one in force marked."""
    if not any(c.change_of is not None for c in view.confirmations):
        return None
    table = new_table("Contract", "Version", "Approved", "Total", "In force", "What it changed")
    approved = [c for c in view.confirmations if c.state is ConfirmationState.APPROVED]
    for n, c in enumerate(sorted(approved, key=lambda c: c.version)):
        # Orders approved before approved_at was recorded do not know when.
        at = when(c.approved_at) if c.approved_at is not None else "-"
        changed = "; ".join(c.changes) if n else "first approved version"
        in_force = "in force" if c.version == view.approved_version else ""
        add_row(table, str(c.version), at, f"{c.amount_total} {c.currency}", in_force, changed, cut_last=False)
    return table


def _payments(view: OrderView) -> Table | Text | None:
    if view.total is None and not view.payments:
        return None
    if not view.payments and not view.refunds:
        due = f"{view.balance_due} {view.currency or ''}".rstrip()
        return Text(f"Payments: none received yet (balance due {due})")
    table = new_table("Payments", "Received", "Amount", "Method", "Reference")
    for p in view.payments:
        add_row(table, when(p.at), str(p.amount), str(p.method), p.reference)
    for r in view.refunds:
        add_row(table, when(r.at), f"-{r.amount}", str(r.method), f"refund {r.status} {r.refund_id or ''}")
    table.caption = f"paid {view.amount_paid} · balance due {view.balance_due}" + (
        f" · overpaid {view.overpaid}" if view.overpaid else ""
    )
    receipts = [str(n) for n, p in enumerate(view.payments, start=1) if p.receipt]
    if receipts:  # the columns stay as they were: scripts read them
        table.caption += f" · receipts {', '.join(receipts)}: orders document {view.order_id} --receipt N"
    return table


INSTALMENT_STYLES: Final = {InstalmentStatus.OVERDUE: "red", InstalmentStatus.OPEN: "yellow"}


def _instalment_due(bill: InstalmentBill) -> str:
    """Once fallen due, the date to pay it by; before, its event (and the date, for a time after approval)."""
    if bill.due_at is not None:
        return f"by {when(bill.due_at)}"
    if bill.falls_due_at is not None:
        return f"{bill.due} ({when(bill.falls_due_at)})"
    return bill.due


def _instalments(view: OrderView) -> Table | None:
    """The payment schedule as it is billed; its caption says what is due now (``balance_due``) and
    what falls due later, with its events."""
    if not view.instalments:
        return None
    currency = view.currency or ""
    table = new_table("Payment schedule", "#", "Due", "Amount", "Paid", "Status", "Instalment")
    for bill in view.instalments:
        style = INSTALMENT_STYLES.get(bill.status)
        add_row(
            table,
            str(bill.number),
            _instalment_due(bill),
            str(bill.amount),
            str(bill.paid),
            bill.status.value,
            bill.name,
            style=style,
        )
    later = sum((b.unpaid for b in view.instalments if b.status is InstalmentStatus.SCHEDULED), Decimal("0.00"))
    overdue = any(b.status is InstalmentStatus.OVERDUE for b in view.instalments)
    now = f"due now {view.balance_due} {currency}".rstrip() + (" (overdue)" if overdue else "")
    caption = now if view.balance_due > 0 else "nothing due now"
    if later > 0:
        caption += f" · to fall due later {later} {currency}".rstrip()
    table.caption = caption
    return table


def _milestones(view: OrderView) -> Table | None:
    if not view.milestones:
        return None
    table = new_table("Milestones", "Due", "Completed", "Name")
    for m in view.milestones:
        add_row(table, when(m.due_at), when(m.completed_at), m.name)
    return table


def _updates(view: OrderView) -> Table | None:
    if not view.updates and not view.notes:
        return None
    table = new_table("Updates and notes", "At", "From", "Text")
    entries = [(u.at, f"update{' · ' + u.milestone if u.milestone else ''}", u.text) for u in view.updates]
    entries += [(n.at, f"note · {n.author_name or n.author}", n.text) for n in view.notes]
    for at, who, text in sorted(entries, key=lambda e: e[0])[-10:]:
        add_row(table, when(at), who, text[:120])
    return table


def _deliveries(view: OrderView) -> Table | None:
    if not view.deliveries and not view.revisions:
        return None
    table = new_table("Deliveries and revisions", "At", "Round", "What")
    entries = [(d.at, d.round, f"delivered: {d.summary} {' '.join(d.links)}") for d in view.deliveries]
    entries += [(r.at, r.round, f"revision requested: {r.comments}") for r in view.revisions]
    for at, rnd, text in sorted(entries, key=lambda e: e[0]):
        add_row(table, when(at), str(rnd), text[:160])
    return table


HASH_SHOWN: Final = 8
"""Hex digits of a PDF's SHA-256 in the table: enough to tell versions apart; ``status --json`` has it whole."""


def _decided(c: Confirmation) -> str:
    if c.approved_at is not None:
        return "approved"
    if c.comments_at is not None:
        return "declined" if c.change_of is not None else "changes requested"
    return str(c.state)


def _by(evidence: Evidence) -> str:
    """Who decided: the staff member acting for the customer, or the customer the portal's link
    was sent to, and whether they ticked the box that they read and agree to the PDF's terms.
    The client's IP address and user agent are personal data: ``status --json`` only."""
    who = "—"
    if evidence.by:
        who = f"{evidence.by} (staff)"
    elif evidence.channel == "portal" and evidence.email:
        who = evidence.email
    return who + (" · agreed to the terms" if evidence.agreed_to_terms else "")


def _decisions(view: OrderView) -> Table | None:
    """Each customer decision the order recorded evidence for, oldest first: the versions
    approved or sent back, the deliveries accepted or sent back for a revision."""
    revised = {r.round for r in view.revisions}
    rows = [(c.decision, f"v{c.version}", _decided(c)) for c in view.confirmations if c.decision]
    rows += [
        (d.decision, f"delivery {d.round}", "revision requested" if d.round in revised else "accepted")
        for d in view.deliveries
        if d.decision
    ]
    if not rows:
        return None
    table = new_table("Customer decisions", "At", "On", "Decision", "Channel", "PDF", "By")
    # Evidence recorded without a time (none the order completes) goes last.
    for evidence, on, decided in sorted(rows, key=lambda row: row[0].at or datetime.max.replace(tzinfo=UTC)):
        pdf = (evidence.document_sha256 or "—")[:HASH_SHOWN]
        add_row(table, when(evidence.at), on, decided, evidence.channel, pdf, _by(evidence), cut_last=False)
    return table


def _support(view: OrderView) -> Table | None:
    if view.support is None:
        return None
    s = view.support
    table = new_table("Support", "Opened", "Ends", "Ticket", "Scope")
    add_row(table, when(s.opened_at), when(s.closed_at or s.ends_at), s.ticket or "", s.scope)
    for r in view.support_requests:
        add_row(table, when(r.at), "", "request", f"{r.subject}: {r.text[:100]}")
    return table


TIMELINE_ROWS: Final = 10
"""The latest events shown; ``status --json`` has them all."""


def emails_sent(view: OrderView) -> str:
    """Every email the order has seen delivered to its backend, by audience: the
    customer's, operations' and the support team's alike. An email still being
    sent is not in the timeline yet, so it is not counted."""
    audiences: dict[str, int] = {}
    for e in view.timeline:
        if e.kind is TimelineKind.EMAIL_SENT:
            audience = e.fields.get("audience", "other")
            audiences[audience] = audiences.get(audience, 0) + 1
    total = sum(audiences.values())
    text = f"{total} sent"
    if audiences:
        order = {"customer": 0, "operations": 1, "support": 2}
        parts = sorted(audiences.items(), key=lambda item: (order.get(item[0], 9), item[0]))
        text += " (" + ", ".join(f"{n} to {'the ' if a == 'customer' else ''}{a}" for a, n in parts) + ")"
    if view.failed_emails:
        text += f", {len(view.failed_emails)} could not be sent"
    return text


def _timeline(view: OrderView) -> Group | None:
    if not view.timeline:
        return None
    # Delivery receipts are for audits (status --json); people want what happened.
    events = [e for e in view.timeline if e.kind is not TimelineKind.EMAIL_SENT]
    shown = events[-TIMELINE_ROWS:]
    title = f"Timeline (latest {len(shown)} of {len(events)} events)" if len(events) > len(shown) else "Timeline"
    table = new_table(title, "At", "Event", "Detail")
    for e in shown:
        add_row(table, when(e.at), e.event, e.detail[:120])
    return Group(table, Text(f"Emails: {emails_sent(view)}"))


def _rejected(view: OrderView) -> Table | None:
    if not view.rejected:
        return None
    table = new_table("Rejected actions", "At", "Action", "Via", "Reason")
    for r in view.rejected[-10:]:
        add_row(table, when(r.at), r.action, r.via, r.reason[:160], style="red")
    return table


def _charges(view: OrderView) -> Table | None:
    if not view.charge_attempts:
        return None
    table = new_table("Card charges", "At", "Attempt", "Outcome", "PaymentIntent", "Reason")
    for c in view.charge_attempts:
        style = None if c.status == "succeeded" else "yellow"
        add_row(table, when(c.at), str(c.attempt), c.status, c.payment_intent_id or "", c.message or "", style=style)
    return table


def _failed_emails(view: OrderView) -> Table | None:
    if not view.failed_emails:
        return None
    table = new_table("Emails that could not be sent (operations were told)", "At", "Kind", "To", "Error")
    for f in view.failed_emails[-10:]:
        add_row(table, when(f.at), f.kind, f.audience, f"{f.error_type or ''} {f.error}".strip()[:160], style="red")
    return table
