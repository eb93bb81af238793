"""``orders outbox``: the emails the local outbox holds, listed or shown one at a time."""

from __future__ import annotations

import argparse
from datetime import UTC
from typing import Any, Final

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from starter import console
from starter.console import CliError, Exit, print_json
from starter.order_panel import add_row, new_table, show, when


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
        # A confirmation carries its PDF: named here, so that `show` says what the customer got.
        files = [f"{part.get_filename()} ({len(part.get_content())} bytes)" for part in message.iter_attachments()]
        if files:
            header.add_row(Text("Attached", style="bold"), Text(", ".join(files)))
        text = body.get_content() if body is not None else "(no plain-text part)"
        if not console.out.is_terminal:
            show(header)
            print(f"\n{text}", end="" if text.endswith("\n") else "\n")
            return Exit.OK
        console.out.print(Panel(Group(header, Text(""), Text(text)), title=entry.path.name, box=box.ROUNDED))
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
        console.out.print(escape(_no_messages(str(directory), len(everything), args.order, args.kind)), soft_wrap=True)
        return Exit.OK
    plain = not console.out.is_terminal  # a pipe or a file gets every column, one row per line
    table = outbox_table(
        entries,
        str(directory),
        with_order=plain or args.order is None,
        with_date=plain or console.out.width >= OUTBOX_DATES_FROM_WIDTH,
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
    table = new_table(f"Outbox {directory}", *columns, "Subject")
    for i, e in enumerate(entries, 1):
        date = [when(e.date)] if with_date else []
        order = [e.order_id] if with_order else []
        add_row(table, str(i), *date, *order, e.kind, e.to_address or e.to, e.subject)
    return table
