"""``orders erase ID --reason ...``, ``orders hold ID --until DATE --reason ...``, and what
``orders status`` shows of an erased order.

Erasure runs on the worker (workflows/erasure.py); this command starts it and
prints its record. A legal hold is a record in the key store (``ORDERS_KEY_STORE``,
or the store ``orders dev`` made here), which the erasure reads before it erases.
"""

from __future__ import annotations

import argparse
import getpass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from orderclient.client import OrderClient
from orderclient.erasure import closed_before
from orderclient.errors import ErasureRefused, OrderErased, OrderUnavailable
from ordersecurity.key_store import HOLD_RECORD, STORE_ENV, open_store, store_url_from_environment
from starter import console
from starter.console import CliError, Exit, print_json
from workflows.converter import describe
from workflows.models import LegalHold


def add_erase_parsers(sub: Any, client: argparse.ArgumentParser, erase: Any, hold: Any) -> None:
    p = sub.add_parser(
        "erase",
        parents=[client],
        help="erase a closed order's personal data (destroys its key; outbox, documents, Stripe customer)",
        description=(
            "Erase the personal data of a closed order (completed, cancelled or expired) that no legal hold "
            "keeps: the worker deletes its emails from the outbox and the email ledger, its documents, the "
            "Stripe Customer it made, and destroys the order's own encryption key, so that its history in "
            "Temporal can never be read again. The amounts, dates and statuses stay readable. A second erase "
            "of the same order changes nothing and says so."
        ),
    )
    p.add_argument("order_id", metavar="ID", nargs="?", help="the order (or --closed-before)")
    p.add_argument(
        "--closed-before",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="every order that closed before this day (a retention policy), one after the other",
    )
    p.add_argument("--dry-run", action="store_true", help="with --closed-before: list the orders, erase nothing")
    p.add_argument("--reason", required=True, help="why, for the record: the request's reference, not the customer")
    p.add_argument("--by", default=None, metavar="NAME", help="who asks (default: your login name)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=erase)

    p = sub.add_parser("hold", help="put a closed or open order under a legal hold: no erasure before a date")
    p.add_argument("order_id", metavar="ID")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--until", type=date.fromisoformat, metavar="YYYY-MM-DD", help="the last day of the hold")
    when.add_argument("--release", action="store_true", help="end the order's hold today")
    p.add_argument("--reason", default=None, help="why (a dispute, an audit, a tax period); required with --until")
    p.add_argument("--by", default=None, metavar="NAME", help="who sets it (default: your login name)")
    p.set_defaults(handler=hold)


async def erase_closed_before(args: argparse.Namespace, orders: OrderClient) -> int:
    """``orders erase --closed-before DATE``: each order in turn; a refusal (a legal hold) is reported
    and the others go on. Exit 1 if any was refused."""
    before = datetime.combine(args.closed_before, time(), UTC)
    found = await closed_before(orders.client, before)
    if args.dry_run:
        if args.json:
            print_json([{"order_id": o.order_id, "closed_at": o.closed_at.isoformat()} for o in found])
            return Exit.OK
        table = Table("order", "closed", title=f"Closed before {before:%Y-%m-%d} (a dry run)", title_justify="left")
        for order in found:
            table.add_row(escape(order.order_id), f"{order.closed_at:%Y-%m-%d %H:%M} UTC")
        console.out.print(table)
        console.out.print(f"{_orders(len(found))}; nothing was erased. An order under a legal hold will be refused.")
        return Exit.OK
    outcome: dict[str, str] = {}
    for order in found:
        try:
            erasure = await orders.erase(order.order_id, args.reason, operator(args))
            outcome[order.order_id] = "already erased" if erasure.already else "erased"
        except ErasureRefused as refusal:
            outcome[order.order_id] = f"refused: {refusal.message}"
        except OrderUnavailable as error:  # no worker finished it in time: it goes on, the others too
            outcome[order.order_id] = f"not finished: {error.message}"
    if args.json:
        print_json(outcome)
    else:
        for order_id, what in outcome.items():
            console.out.print(escape(f"{order_id}: {what}"), soft_wrap=True)
        console.out.print(f"{_orders(len(found))} closed before {before:%Y-%m-%d}.")
    return Exit.OK if all(what.endswith("erased") for what in outcome.values()) else Exit.REJECTED


def _orders(count: int) -> str:
    return "1 order" if count == 1 else f"{count} orders"


def operator(args: argparse.Namespace) -> str:
    return str(args.by or getpass.getuser())


def show_erasure(order_id: str, record: Any, already: bool, as_json: bool) -> int:
    if as_json:
        print_json({"order_id": order_id, "already": already, **record.model_dump(mode="json")})
        return Exit.OK
    if already:
        console.out.print(
            escape(f"Order {order_id} was already erased on {record.erased_at:%Y-%m-%d %H:%M} UTC: nothing changed."),
            soft_wrap=True,
        )
    else:
        console.out.print(escape(f"Order {order_id}: personal data erased."), soft_wrap=True)
    table = Table("where", "removed", "detail", title="What the erasure did", title_justify="left")
    for part in record.parts:
        table.add_row(escape(part.place), str(part.count), escape(part.detail))
    console.out.print(table)
    if not record.crypto_shredded:
        console.out.print(
            "[yellow]This order has no key of its own[/] (it predates per-order keys, or the worker has no key "
            "store): its Temporal history stays readable with the master key until the namespace's retention "
            "deletes it."
        )
    return Exit.OK


def show_erased(gone: OrderErased, as_json: bool) -> int:
    """``orders status`` of an erased order: the notice, and the facts accounting keeps."""
    facts = gone.facts
    if as_json:
        print_json(
            {
                "order_id": gone.order_id,
                "erased": gone.record.model_dump(mode="json"),
                "facts": facts.model_dump(mode="json") if facts is not None else None,
            }
        )
        return Exit.OK
    console.out.print(
        escape(f"Order {gone.order_id}: this order's personal data was erased on {gone.record.erased_at:%Y-%m-%d}."),
        soft_wrap=True,
    )
    if facts is not None:
        table = Table("fact", "value", title="What accounting keeps", title_justify="left")
        rows = {
            "status": facts.status.value,
            "closed": f"{facts.completed_at:%Y-%m-%d %H:%M} UTC",
            "currency": facts.currency or "",
            "total": str(facts.total) if facts.total is not None else "",
            "paid": str(facts.amount_paid),
            "refunded": str(facts.refunded),
            "approved version": str(facts.approved_version or ""),
        }
        for name, value in rows.items():
            table.add_row(name, escape(value))
        console.out.print(table)
    return Exit.OK


def set_hold(args: argparse.Namespace) -> int:
    url = store_url_from_environment()
    if url is None:
        raise CliError(
            Exit.USAGE,
            f"no key store: legal holds are kept beside the order keys; set {STORE_ENV} to the worker's store",
        )
    today = datetime.now(UTC).date()
    if args.release:
        until, reason = today - timedelta(days=1), args.reason or "released"
    elif not args.reason:
        raise CliError(Exit.USAGE, "--reason is required with --until")
    else:
        until, reason = args.until, args.reason
    try:
        hold = LegalHold(order_id=args.order_id, until=until, reason=reason, set_by=operator(args))
    except ValidationError as error:
        raise CliError(Exit.USAGE, describe(error)) from None
    open_store(url).add_record(HOLD_RECORD, hold.order_id, datetime.now(UTC), hold.model_dump_json())
    if args.release:
        console.out.print(escape(f"Order {hold.order_id}: legal hold released; it may be erased once closed."))
    else:
        console.out.print(escape(f"Order {hold.order_id}: no erasure before {until:%Y-%m-%d} ({reason})."))
    return Exit.OK
