"""The ``orders`` command line: start orders, act on them, look at them.

Actions are sent by name (see ``workflows.names``), so this module never
imports workflow code; only ``orders worker`` and ``orders dev`` load it.

Exit codes: 0 success, 1 the order refused the action, 2 bad usage or a bad
file, 3 no such order, 4 Temporal unreachable, 5 no worker answered in time.

Every action command prints the request id it used. After exit 5 the action
is not lost: Temporal holds it and the order applies it when a worker starts.
Resend it only with the same ``--request-id`` (as an update or with
``--signal``): the order applies one (action, request id) at most once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import secrets
import sys
import time
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Column, Table
from rich.text import Text

from orderclient import client as order_client
from orderclient import summaries
from orderclient.client import (
    ActionRejected,
    InvalidListQuery,
    NamespaceNotFound,
    NoWorkerAvailable,
    OrderClient,
    OrderClosed,
    OrderError,
    OrderNotFound,
    TemporalUnreachable,
)
from orderclient.connection import DEFAULT_ADDRESS
from orderclient.contract import schemas
from ordersecurity.codec import KeyConfigError, PayloadDecryptionError
from starter.action_commands import add_action_parsers, build_action
from starter.console import CliError, Exit, err, out, print_json, read_json, validate
from workflows import names
from workflows.models import (
    ActionResult,
    OrderStatus,
    OrderView,
    StartOrderInput,
    TimelineKind,
)

CONNECT_TIMEOUT: Final = order_client.CONNECT_TIMEOUT
DEFAULT_UPDATE_SECONDS: Final = order_client.UPDATE_TIMEOUT.total_seconds()

# --------------------------------------------------------------------------
# Connecting
# --------------------------------------------------------------------------


async def connect(args: argparse.Namespace) -> OrderClient:
    update_timeout = timedelta(seconds=getattr(args, "timeout", None) or DEFAULT_UPDATE_SECONDS)
    with cli_errors():
        return await OrderClient.connect(
            args.address, args.namespace, timeout=CONNECT_TIMEOUT, update_timeout=update_timeout
        )


def held_message(error: NoWorkerAvailable, action: str, request_id: str) -> str:
    """The truth after an update nobody answered: it is held, and how to retry without doubling it."""
    return (
        f"{error.message}. The {action} (request id {request_id}) is held by Temporal: the order applies it"
        " when a worker starts (`orders worker` or `orders dev`). Do not send it again under a new request id."
        f" To retry safely, resend it with --request-id {request_id} (as an update or with --signal):"
        " the order applies one request id once, whichever copy arrives first."
    )


@contextmanager
def cli_errors() -> Iterator[None]:
    """The one place OrderClient's typed errors become a message and an exit code."""
    try:
        yield
    except TemporalUnreachable as error:
        if error.address is None:
            raise CliError(Exit.UNREACHABLE, error.message) from None
        raise CliError(
            Exit.UNREACHABLE,
            f"cannot reach Temporal at {error.address}: is `orders dev` running?\n  ({error.detail})",
        ) from None
    except OrderClosed as error:
        message = f"order {error.order_id} is closed and accepts no more actions"
        if error.alert is not None:
            message += f"; it was not counted, and operations were told ({error.alert.reason})"
        raise CliError(Exit.REJECTED, message) from None
    except ActionRejected as error:
        raise CliError(Exit.REJECTED, f"order {error.order_id} refused: {error.reason}") from None
    except OrderNotFound as error:
        raise CliError(Exit.UNKNOWN_ORDER, error.message) from None
    except NoWorkerAvailable as error:
        # Actions say more (cmd_action): the update is held, and how to retry it.
        raise CliError(Exit.NO_WORKER, f"{error.message}: start one with `orders worker` (or `orders dev`)") from None
    except (NamespaceNotFound, InvalidListQuery) as error:
        raise CliError(Exit.USAGE, error.message) from None
    except OrderError as error:  # a failing workflow task, a failed query, anything else Temporal refused
        raise CliError(Exit.REJECTED, error.message) from None


# --------------------------------------------------------------------------
# Building payloads
# --------------------------------------------------------------------------


def new_order_id() -> str:
    return f"{time.strftime('%Y%m%d')}-{secrets.token_hex(3)}"


def build_start(args: argparse.Namespace) -> StartOrderInput:
    if args.file:
        data = read_json(args.file)
        if not isinstance(data, dict):
            raise CliError(Exit.USAGE, f"{args.file}: expected a JSON object with the StartOrderInput fields")
        source = args.file
    else:
        missing = [flag for flag in ("name", "email", "message") if not getattr(args, flag)]
        if missing:
            flags = ", ".join(f"--{flag}" for flag in missing)
            raise CliError(Exit.USAGE, f"missing {flags} (or give --file request.json)")
        customer = {"name": args.name, "email": args.email, "company": args.company, "phone": args.phone}
        data = {"customer": {k: v for k, v in customer.items() if v is not None}, "message": args.message}
        if args.channel:
            data["channel"] = args.channel
        source = ""
    if args.order_id:
        data["order_id"] = args.order_id
    data.setdefault("order_id", new_order_id())
    return validate(StartOrderInput, data, source)


def _fields(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------


async def cmd_start(args: argparse.Namespace) -> int:
    inp = build_start(args)
    orders = await connect(args)
    with cli_errors():
        started = await orders.start(inp)
    if args.json:
        print_json({"order_id": started.order_id, "workflow_id": started.workflow_id, "existing": started.existing})
    elif started.existing:
        out.print(f"Order [bold]{started.order_id}[/] already exists")
    else:
        out.print(f"Order [bold]{started.order_id}[/] started")
    return Exit.OK


async def cmd_action(args: argparse.Namespace) -> int:
    """Every action command: an update by default, a durable signal with --signal.

    The request id (``--request-id``, or a random one) is printed in every
    outcome, so that a retry can reuse it.
    """
    name, action = build_action(args)
    request_id = str(action.request_id)
    orders = await connect(args)
    with cli_errors():
        charging = name == names.PROVIDE_PAYMENT_METHOD and not args.signal
        attempts_before = await _last_charge_attempt(orders, args.order_id) if charging else None
        if args.signal:
            sent = await orders.send_signal(args.order_id, name, action)
            if args.json:
                print_json({"order_id": args.order_id, "action": name, "request_id": sent.request_id, "queued": True})
            else:
                out.print(
                    f"{name} for order [bold]{args.order_id}[/] queued (request id {sent.request_id})", soft_wrap=True
                )
            return Exit.OK
        try:
            result = await orders.update(args.order_id, name, action)
        except NoWorkerAvailable as error:
            if args.json:
                print_json({"order_id": args.order_id, "action": name, "request_id": request_id, "held": True})
            raise CliError(Exit.NO_WORKER, held_message(error, name, request_id)) from None
        except ActionRejected as error:
            error.message = error.reason = f"{error.reason} (request id {request_id})"
            raise
        if attempts_before is not None and result.applied:
            return await report_charge(orders, args, result, request_id, attempts_before)
    if args.json:
        print_json({**result.model_dump(mode="json"), "action": name, "request_id": request_id})
    else:
        print_result(name, result, request_id)
    return Exit.OK


async def _last_charge_attempt(orders: OrderClient, order_id: str) -> int | None:
    """The number of the order's latest card charge; None when no worker answers,
    so that the card still goes out as an update Temporal holds (exit 5)."""
    try:
        view = await orders.status(order_id)
    except NoWorkerAvailable:
        return None
    return max((a.attempt for a in view.charge_attempts), default=0)


async def report_charge(
    orders: OrderClient, args: argparse.Namespace, result: ActionResult, request_id: str, after: int
) -> int:
    """``orders card``: what the charge really did, not only that the card was taken.

    The order charges the card after the update has answered, so wait (up to
    ``--timeout``) for the attempt it records: a decline or an error exits 1.
    """
    order_id = result.order_id
    if result.status is not OrderStatus.AWAITING_PAYMENT:
        message = f"card saved for order {order_id} ({result.status}): it is charged once payment is due"
        return _charge_said(args, result, request_id, None, Exit.OK, message)
    timeout = timedelta(seconds=args.timeout or DEFAULT_UPDATE_SECONDS)
    attempt = await orders.charge_outcome(order_id, after, timeout)
    if attempt is None:
        message = (
            f"card saved for order {order_id}; the charge has not finished within {timeout.total_seconds():g} s:"
            f" see `orders status {order_id}`"
        )
        return _charge_said(args, result, request_id, None, Exit.OK, message)
    intent = attempt.payment_intent_id or "no PaymentIntent"
    if attempt.status == "succeeded":
        view = await orders.status(order_id)
        message = f"card charged for order {order_id} ({intent}): now {view.status}"
        return _charge_said(args, result, request_id, attempt, Exit.OK, message, ok=True)
    if attempt.status == "processing":
        message = f"card payment for order {order_id} is processing at Stripe ({intent}); Stripe reports the outcome"
        return _charge_said(args, result, request_id, attempt, Exit.OK, message)
    what = {"declined": "was declined", "requires_action": "needs the customer to confirm it with their bank"}.get(
        attempt.status, "failed"
    )
    reason = attempt.message or "no reason given"
    code = f", {attempt.decline_code}" if attempt.decline_code else ""
    message = f"the card charge for order {order_id} {what}: {reason} ({intent}{code}; request id {request_id})"
    return _charge_said(args, result, request_id, attempt, Exit.REJECTED, message)


def _charge_said(
    args: argparse.Namespace,
    result: ActionResult,
    request_id: str,
    attempt: Any,
    code: Exit,
    message: str,
    *,
    ok: bool = False,
) -> int:
    if args.json:
        charge = attempt.model_dump(mode="json") if attempt is not None else None
        print_json(
            {
                **result.model_dump(mode="json"),
                "action": names.PROVIDE_PAYMENT_METHOD,
                "request_id": request_id,
                "charge": charge,
            }
        )
    elif code is Exit.OK:
        mark = "[green]✓[/]" if ok else "[yellow]…[/]"
        out.print(f"{mark} {escape(message)} (request id {request_id})", highlight=False, soft_wrap=True)
    if code is not Exit.OK:
        raise CliError(code, message)
    return code


def print_result(name: str, result: ActionResult, request_id: str) -> None:
    if result.applied:
        line = f"[green]✓[/] {name} applied to order [bold]{result.order_id}[/]: now [bold]{result.status}[/]"
    else:
        line = f"[yellow]=[/] {name} was already applied to order [bold]{result.order_id}[/]: [bold]{result.status}[/]"
    # Never wrapped by Rich: a request id broken across lines cannot be copied back (exit 5's advice).
    out.print(line + f" (request id {request_id})", highlight=False, soft_wrap=True)
    if result.message:
        out.print(Text(f"  {result.message}"))


async def cmd_status(args: argparse.Namespace) -> int:
    orders = await connect(args)
    with cli_errors():
        view = await (orders.status_in_full if args.all else orders.status)(args.order_id)
    if args.json:
        print_json(view.model_dump(mode="json"))
    else:
        show(render_view(view))
    return Exit.OK


def list_query(status: str | None) -> str:
    try:
        return summaries.list_query(status)
    except ValueError as error:
        raise CliError(Exit.USAGE, str(error)) from None


async def cmd_list(args: argparse.Namespace) -> int:
    list_query(args.status)  # a bad status is a usage error before connecting
    orders = await connect(args)
    with cli_errors():
        summaries = await orders.list(args.status)
    rows: list[dict[str, Any]] = [
        {
            "order_id": row.order_id,
            "status": row.status.value if row.status else None,
            "workflow_status": row.workflow_status,
            "started_at": row.started_at.isoformat(),
            "next_deadline": row.next_deadline.isoformat() if row.next_deadline else None,
        }
        for row in summaries
    ]
    if args.json:
        print_json(rows)
        return Exit.OK
    if not rows:
        out.print("no orders")
        return Exit.OK
    table = _table("", "Order", "Status", "Next deadline", "Started")
    for row in rows:
        _row(table, row["order_id"], row["status"] or "?", _when(row["next_deadline"]), _when(row["started_at"]))
    show(table)
    return Exit.OK


def cmd_schema(args: argparse.Namespace) -> int:
    all_schemas = schemas()
    if not args.out:
        print(json.dumps(all_schemas, indent=2))
        return Exit.OK
    directory = Path(args.out)
    directory.mkdir(parents=True, exist_ok=True)
    for name, schema in all_schemas.items():
        (directory / f"{name}.json").write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    out.print(f"wrote {len(all_schemas)} schemas to {directory}")
    return Exit.OK


def cmd_worker(args: argparse.Namespace) -> int:
    # worker.main() connects through envconfig: hand it the flags that way.
    if args.address:
        os.environ["TEMPORAL_ADDRESS"] = args.address
    if args.namespace:
        os.environ["TEMPORAL_NAMESPACE"] = args.namespace
    try:
        import worker  # loads the workflow code: only here and in dev
    except ImportError as error:
        raise CliError(Exit.REJECTED, f"cannot load the worker: {error}") from None
    from activities.config import ConfigError
    from orderclient.connection import TemporalUnreachableError

    try:
        asyncio.run(worker.main())
    except ConfigError as error:
        raise CliError(Exit.USAGE, str(error)) from None
    except TemporalUnreachableError as error:  # worker.py's own entry point says the same
        raise CliError(Exit.UNREACHABLE, str(error)) from None
    return Exit.OK


def cmd_outbox(args: argparse.Namespace) -> int:
    from activities.config import Settings
    from activities.email import list_outbox, read_outbox_message

    directory = args.dir or Settings.from_env().outbox_dir
    everything = list_outbox(directory)
    entries = [
        e
        for e in everything
        if (args.order is None or e.order_id == args.order) and (args.kind is None or e.kind == args.kind)
    ]
    if args.show:
        if args.number is None or not 1 <= args.number <= len(entries):
            raise CliError(Exit.USAGE, f"no message {args.number} among the {len(entries)} listed in {directory}")
        entry = entries[args.number - 1]
        message = read_outbox_message(entry.path)
        body = message.get_body(("plain",))
        header = Table.grid(padding=(0, 2))
        for name in ("From", "To", "Subject", "Date", "X-Order-Id", "X-Message-Kind"):
            header.add_row(Text(name, style="bold"), Text(str(message.get(name, ""))))
        text = body.get_content() if body is not None else "(no plain-text part)"
        if not out.is_terminal:
            show(header)
            print(f"\n{text}", end="" if text.endswith("\n") else "\n")
            return Exit.OK
        out.print(Panel(Group(header, Text(""), Text(text)), title=entry.path.name, box=box.ROUNDED))
        return Exit.OK
    if args.json:
        print_json(
            [
                {"n": i, "date": e.date.astimezone(UTC).isoformat() if e.date else None, "order_id": e.order_id}
                | {"kind": e.kind, "to": e.to, "subject": e.subject, "path": str(e.path)}
                for i, e in enumerate(entries, 1)
            ]
        )
        return Exit.OK
    if not entries:
        out.print(escape(_no_messages(str(directory), len(everything), args.order, args.kind)), soft_wrap=True)
        return Exit.OK
    plain = not out.is_terminal  # a pipe or a file gets every column, one row per line
    table = outbox_table(
        entries,
        str(directory),
        with_order=plain or args.order is None,
        with_date=plain or out.width >= OUTBOX_DATES_FROM_WIDTH,
    )
    show(table)
    return Exit.OK


def _no_messages(directory: str, total: int, order: str | None, kind: str | None) -> str:
    """An empty list: an empty outbox, or messages that the filters left out, and how many."""
    if not total or (order is None and kind is None):
        return f"no messages in {directory}"
    of_kind = f" of kind {kind}" if kind is not None else ""
    for_order = f" for order {order}" if order is not None else ""
    if kind is None:
        others = "for other orders"
    elif order is None:
        others = "of other kinds"
    else:
        others = "others"
    return f"no messages{of_kind}{for_order} in {directory} ({total} {others})"


OUTBOX_DATES_FROM_WIDTH: Final = 110
"""Below this terminal width the outbox table leaves the date out (``show N`` has it),
so that the kind, the recipient and some of the subject fit in 80 columns."""


def outbox_table(entries: list[Any], directory: str, *, with_order: bool = True, with_date: bool = True) -> Table:
    """The numbered outbox list: the subject gives way (cut with an ellipsis);
    the number, the kind and the recipient's bare address never do."""
    columns = ["#", *(["Date"] if with_date else []), *(["Order"] if with_order else []), "Kind", "To"]
    table = _table(f"Outbox {directory}", *columns, "Subject")
    for i, e in enumerate(entries, 1):
        date = [_when(e.date)] if with_date else []
        order = [e.order_id] if with_order else []
        _row(table, str(i), *date, *order, e.kind, e.to_address or e.to, e.subject)
    return table


def cmd_webhooks(args: argparse.Namespace) -> int:
    from orderweb.webhooks import MissingWebhookSecret, serve

    try:
        serve(args.host, args.port)
    except MissingWebhookSecret as error:
        raise CliError(Exit.USAGE, str(error)) from None
    return Exit.OK


def cmd_codec_server(args: argparse.Namespace) -> int:
    from ordersecurity.codec import KeyConfigError
    from orderweb.codec_server import CodecServerConfigError, serve

    try:
        serve(args.host, args.port)
    except (CodecServerConfigError, KeyConfigError) as error:
        raise CliError(Exit.USAGE, str(error)) from None
    return Exit.OK


def cmd_keygen(args: argparse.Namespace) -> int:
    from ordersecurity.codec import KeyConfigError, new_key_entry

    try:
        out.print(new_key_entry(args.key_id), highlight=False, soft_wrap=True)
    except KeyConfigError as error:
        raise CliError(Exit.USAGE, str(error)) from None
    return Exit.OK


def cmd_portal(args: argparse.Namespace) -> int:
    from activities.config import ConfigError
    from orderweb.portal import serve

    try:
        serve(args.host, args.port)
    except ConfigError as error:
        raise CliError(Exit.USAGE, str(error)) from None
    return Exit.OK


def cmd_dev(args: argparse.Namespace) -> int:
    from starter import dev

    options = dev.DevOptions(
        port=args.port,
        ui_port=args.ui_port,
        db=args.db,
        outbox=args.outbox,
        codec_port=args.codec_port,
        stripe_test_double=args.stripe_test_double,
    )
    try:
        return asyncio.run(dev.run(options))
    except dev.DevError as error:
        raise CliError(Exit(error.code), error.message) from None


# --------------------------------------------------------------------------
# Rendering an order
# --------------------------------------------------------------------------


def _when(value: datetime | str | None) -> str:
    """Every time the CLI prints is in UTC and says so, as the emails and the UI do:
    ``2026-12-23 01:11 UTC``. A time without a zone is taken as UTC."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _row(table: Table, *cells: str, style: str | None = None, cut_last: bool = True) -> None:
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


def _table(title: str, *columns: str) -> Table:
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
    if out.is_terminal:
        out.print(renderable)
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
    sections = (_confirmations, _payments, _charges, _milestones, _updates, _deliveries, _support, _timeline)
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
    _row(grid, "Status", str(view.status), cut_last=False)
    who = ", ".join(x for x in (c.name, c.company, c.email, c.phone) if x)
    _row(grid, "Customer", who, cut_last=False)
    _row(grid, "Channel", f"{view.channel} · since {_when(view.created_at)}", cut_last=False)
    _row(grid, "Request", view.first_message[:200], cut_last=False)
    if view.total is not None:
        _row(grid, "Total", f"{view.total} {view.currency or ''}", cut_last=False)
    if view.next_deadline:
        _row(grid, "Next deadline", f"{_when(view.next_deadline.at)}: {view.next_deadline.what}", cut_last=False)
    if view.cancellation:
        x = view.cancellation
        _row(grid, "Cancelled", f"{_when(x.at)} by {x.by}: {x.reason}", cut_last=False)
    return grid


def _confirmations(view: OrderView) -> Table | Group | None:
    if not view.confirmations:
        return None
    table = _table("Confirmations", "Version", "Total", "Issued", "State", "Title")
    for c in view.confirmations:
        _row(table, str(c.version), f"{c.amount_total} {c.currency}", _when(c.issued_at), str(c.state), c.title or "")
    asked = [c for c in view.confirmations if c.comments]
    if not asked:
        return table
    # What the customer asked for is what staff must act on: shown whole, wrapped, never cut.
    requests = _table("Changes the customer asked for", "Version", "Comments")
    for c in asked:
        _row(requests, str(c.version), c.comments or "", cut_last=False)
    return Group(table, Text(""), requests)


def _payments(view: OrderView) -> Table | Text | None:
    if view.total is None and not view.payments:
        return None
    if not view.payments and not view.refunds:
        due = f"{view.balance_due} {view.currency or ''}".rstrip()
        return Text(f"Payments: none received yet (balance due {due})")
    table = _table("Payments", "Received", "Amount", "Method", "Reference")
    for p in view.payments:
        _row(table, _when(p.at), str(p.amount), str(p.method), p.reference)
    for r in view.refunds:
        _row(table, _when(r.at), f"-{r.amount}", str(r.method), f"refund {r.status} {r.refund_id or ''}")
    table.caption = f"paid {view.amount_paid} · balance due {view.balance_due}" + (
        f" · overpaid {view.overpaid}" if view.overpaid else ""
    )
    return table


def _milestones(view: OrderView) -> Table | None:
    if not view.milestones:
        return None
    table = _table("Milestones", "Due", "Completed", "Name")
    for m in view.milestones:
        _row(table, _when(m.due_at), _when(m.completed_at), m.name)
    return table


def _updates(view: OrderView) -> Table | None:
    if not view.updates and not view.notes:
        return None
    table = _table("Updates and notes", "At", "From", "Text")
    entries = [(u.at, f"update{' · ' + u.milestone if u.milestone else ''}", u.text) for u in view.updates]
    entries += [(n.at, f"note · {n.author_name or n.author}", n.text) for n in view.notes]
    for at, who, text in sorted(entries, key=lambda e: e[0])[-10:]:
        _row(table, _when(at), who, text[:120])
    return table


def _deliveries(view: OrderView) -> Table | None:
    if not view.deliveries and not view.revisions:
        return None
    table = _table("Deliveries and revisions", "At", "Round", "What")
    entries = [(d.at, d.round, f"delivered: {d.summary} {' '.join(d.links)}") for d in view.deliveries]
    entries += [(r.at, r.round, f"revision requested: {r.comments}") for r in view.revisions]
    for at, rnd, text in sorted(entries, key=lambda e: e[0]):
        _row(table, _when(at), str(rnd), text[:160])
    return table


def _support(view: OrderView) -> Table | None:
    if view.support is None:
        return None
    s = view.support
    table = _table("Support", "Opened", "Ends", "Ticket", "Scope")
    _row(table, _when(s.opened_at), _when(s.closed_at or s.ends_at), s.ticket or "", s.scope)
    for r in view.support_requests:
        _row(table, _when(r.at), "", "request", f"{r.subject}: {r.text[:100]}")
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
    table = _table(title, "At", "Event", "Detail")
    for e in shown:
        _row(table, _when(e.at), e.event, e.detail[:120])
    return Group(table, Text(f"Emails: {emails_sent(view)}"))


def _rejected(view: OrderView) -> Table | None:
    if not view.rejected:
        return None
    table = _table("Rejected actions", "At", "Action", "Via", "Reason")
    for r in view.rejected[-10:]:
        _row(table, _when(r.at), r.action, r.via, r.reason[:160], style="red")
    return table


def _charges(view: OrderView) -> Table | None:
    if not view.charge_attempts:
        return None
    table = _table("Card charges", "At", "Attempt", "Outcome", "PaymentIntent", "Reason")
    for c in view.charge_attempts:
        style = None if c.status == "succeeded" else "yellow"
        _row(table, _when(c.at), str(c.attempt), c.status, c.payment_intent_id or "", c.message or "", style=style)
    return table


def _failed_emails(view: OrderView) -> Table | None:
    if not view.failed_emails:
        return None
    table = _table("Emails that could not be sent (operations were told)", "At", "Kind", "To", "Error")
    for f in view.failed_emails[-10:]:
        _row(table, _when(f.at), f.kind, f.audience, f"{f.error_type or ''} {f.error}".strip()[:160], style="red")
    return table


# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------


def _add_client_options(parser: argparse.ArgumentParser, default: Any) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--address", default=default, help=f"Temporal frontend (default: TEMPORAL_ADDRESS or {DEFAULT_ADDRESS})"
    )
    group.add_argument(
        "--namespace", default=default, help="Temporal namespace (default: TEMPORAL_NAMESPACE or default)"
    )


def _client_options() -> argparse.ArgumentParser:
    # Accepted after the command too; SUPPRESS keeps a value given before it.
    parent = argparse.ArgumentParser(add_help=False)
    _add_client_options(parent, argparse.SUPPRESS)
    return parent


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= 3600:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0 and at most 3600")
    return seconds


def _action_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--signal", action="store_true", help="send as a durable signal instead of an update")
    parent.add_argument(
        "--request-id",
        default=None,
        help="idempotency key: repeating an action with the same id applies it once (default: random)",
    )
    parent.add_argument(
        "--timeout",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help=f"how long an update waits for a worker's answer (default {DEFAULT_UPDATE_SECONDS:g})",
    )
    parent.add_argument("--json", action="store_true", help="print the result as JSON")
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orders", description="Service orders on Temporal.")
    _add_client_options(parser, None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    client = _client_options()
    _add_dev_parser(sub)
    _add_start_parsers(sub, client)
    add_action_parsers(sub, [client, _action_options()], cmd_action)
    _add_reading_parsers(sub, client)
    _add_server_parsers(sub)
    return parser


def _add_dev_parser(sub: Any) -> None:
    p = sub.add_parser(
        "dev",
        help="run a local Temporal server and a worker (Ctrl-C stops both)",
        description=(
            "Run a local Temporal dev server with its Web UI, a worker, a codec server through which the UI "
            "decrypts orders, and the customer portal, until Ctrl-C. The portal listens on the port of "
            "ORDERS_WEB_BASE_URL (default http://localhost:8000), where the links in emails point; if that port "
            "is busy, orders dev runs without it. State is kept in .orders/: the database, the outbox, the local "
            "encryption key (unless ORDERS_ENCRYPTION_KEYS is set) and the link secret. One orders dev per "
            "database: a second one on the same --db says the first is already running and exits."
        ),
    )
    p.add_argument(
        "--port", type=int, default=7233, help="Temporal's port, where orders commands connect (default 7233)"
    )
    p.add_argument("--ui-port", type=int, default=8233, help="the Temporal Web UI's port (default 8233)")
    p.add_argument(
        "--codec-port", type=int, default=8888, help="the codec server the UI decrypts through (default 8888)"
    )
    p.add_argument(
        "--db",
        type=Path,
        default=None,
        help="the server's SQLite file, one per orders dev (default .orders/temporal.db)",
    )
    p.add_argument(
        "--outbox",
        type=Path,
        default=None,
        help="where emails are written (default ORDERS_OUTBOX_DIR if set, else .orders/outbox)",
    )
    p.add_argument(
        "--stripe-test-double",
        action="store_true",
        help="take card payments with a local Stripe test double (no account, no real money): try the card path",
    )
    p.set_defaults(handler=cmd_dev)


def _add_start_parsers(sub: Any, client: argparse.ArgumentParser) -> None:
    p = sub.add_parser("worker", parents=[client], help="run the worker alone")
    p.set_defaults(handler=cmd_worker)

    p = sub.add_parser("start", parents=[client], help="start an order from a customer's first contact")
    p.add_argument("--file", help="StartOrderInput JSON (see examples/request.json)")
    p.add_argument("--name")
    p.add_argument("--email")
    p.add_argument("--company")
    p.add_argument("--phone")
    p.add_argument("--channel", default=None, help="web_form, email, phone or other")
    p.add_argument("--message")
    p.add_argument("--order-id", default=None, help="default: YYYYMMDD-xxxxxx")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_start)


def _add_reading_parsers(sub: Any, client: argparse.ArgumentParser) -> None:
    """Reading orders and their emails: status, list, outbox."""
    p = sub.add_parser("status", parents=[client], help="show an order")
    p.add_argument("order_id", metavar="ID")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--all", action="store_true", help="every note, update, support request and timeline entry, however old"
    )
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("list", parents=[client], help="list orders")
    p.add_argument("--status", default=None, help=", ".join(s.value for s in OrderStatus))
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser(
        "outbox",
        help="list the emails in the local outbox, or show one",
        description=(
            "List the emails in the local outbox, numbered in the order they were sent. `orders outbox show N` "
            "prints message N of that list: its headers and its plain text. --order and --kind narrow the "
            "list, and N counts in the narrowed list."
        ),
    )
    p.add_argument("show", nargs="?", choices=["show"], help="with N: print message N of the list")
    p.add_argument("number", nargs="?", type=int, metavar="N", help="a message's number in the list")
    p.add_argument("--order", default=None, help="only this order's messages")
    p.add_argument("--kind", default=None, help="only this kind, e.g. payment_requested")
    p.add_argument(
        "--dir", type=Path, default=None, help="outbox folder (default ORDERS_OUTBOX_DIR if set, else .orders/outbox)"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_outbox)


def _add_server_parsers(sub: Any) -> None:
    """The processes beside the worker, and the tools: webhooks, codec server, keygen, portal, schema."""
    p = sub.add_parser("webhooks", help="receive Stripe webhooks (POST /stripe/webhook)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.set_defaults(handler=cmd_webhooks)

    p = sub.add_parser("codec-server", help="decrypt payloads for the Temporal UI (POST /encode, /decode)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8888)
    p.set_defaults(handler=cmd_codec_server)

    p = sub.add_parser("keygen", help="print a new ORDERS_ENCRYPTION_KEYS entry (id:base64key)")
    p.add_argument("key_id", metavar="ID", help="the key's id, e.g. 2026-12")
    p.set_defaults(handler=cmd_keygen)

    p = sub.add_parser("portal", help="serve the customer portal: email link pages, contact form, inbound email")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(handler=cmd_portal)

    p = sub.add_parser("schema", help="JSON Schema of every payload")
    p.add_argument("--out", default=None, help="write <name>.json files into this directory")
    p.set_defaults(handler=cmd_schema)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    if getattr(args, "request_id", "") is None:
        args.request_id = uuid.uuid4().hex
    return args


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------


def dispatch(args: argparse.Namespace) -> int:
    result = args.handler(args)
    if isinstance(result, Coroutine):
        return int(asyncio.run(result))
    return int(result)


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exit_:  # argparse: --help is 0, bad usage is 2
        return int(exit_.code or 0) if isinstance(exit_.code, int) else Exit.USAGE
    try:
        return dispatch(args)
    except CliError as error:
        err.print(f"[red]error:[/] {escape(error.message)}", highlight=False, soft_wrap=True)
        return int(error.code)
    except (KeyConfigError, PayloadDecryptionError) as error:  # ORDERS_ENCRYPTION_KEYS lacks or mangles a key
        err.print(f"[red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        return int(Exit.USAGE)
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130


def run() -> None:
    """Console script ``orders``.

    Exits without interpreter finalization: the Temporal client's Rust threads
    can otherwise abort the process at exit ("PyGILState_Release ... must be
    current when releasing", temporalio/sdk-python#300), turning exit code 3
    into 134 now and then.
    """
    code = main()
    gc.collect()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
