"""``orders evidence ID``: the order's evidence certificate, a PDF that states every confirmation
version with its PDF's hash, every decision of the customer with its evidence, and the payments.

An open order is asked for it (the ``certify`` update): it issues a new one only when something
changed since its latest. A closed order takes no update, so its latest certificate (the one its
closing email carried) comes from the ``status`` query. The bytes are read from the worker's
document store and checked against the SHA-256 the order recorded, like ``orders document``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.markup import escape

from orderclient.client import OrderClient, OrderClosed
from starter import console
from starter.console import CliError, Exit, print_json
from starter.document_command import read_document
from workflows.certificate_facts import unchanged
from workflows.models import Certificate, CertifyInput


def add_evidence_parser(sub: Any, client: argparse.ArgumentParser, handler: Any) -> None:
    p = sub.add_parser(
        "evidence",
        parents=[client],
        help="save the order's evidence certificate (PDF), checked against the order's hash",
        description=(
            "Ask the order for its evidence certificate (a new one only when something changed since its "
            "latest; a closed order gives the one it issued last), read the PDF from the worker's document "
            "store, check its SHA-256 against the order's record, and save it to --out (or say where it is). "
            "It reads the store the worker's configuration names: the bucket ORDERS_DOCUMENTS_BUCKET, else the "
            "directory ORDERS_DOCUMENTS_DIR (default: documents beside ORDERS_OUTBOX_DIR)."
        ),
    )
    p.add_argument("order_id", metavar="ID")
    p.add_argument("--out", type=Path, default=None, metavar="FILE", help="write the PDF here")
    p.add_argument(
        "--dir", type=Path, default=None, help="a document directory (default: the worker's bucket or directory)"
    )
    p.add_argument("--by", default=None, metavar="NAME", help="your name, kept with the certificate")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=handler)


async def latest_certificate(orders: OrderClient, order_id: str, by: str | None) -> tuple[Certificate, bool]:
    """The order's current certificate, and whether the order is closed (then: its last one)."""
    view = await orders.status(order_id)
    current = unchanged(view)
    if current is not None:  # still states the order's facts: no update needed
        return current, view.closed_at is not None
    try:
        return await orders.certify(order_id, CertifyInput(by=by)), False
    except OrderClosed:
        view = await orders.status(order_id)
    if not view.certificates:
        raise CliError(
            Exit.REJECTED,
            f"order {order_id} is closed and issued no evidence certificate: it closed before certificates existed "
            f"or with no decision or payment to certify; its record is in `orders status {order_id} --json`",
        ) from None
    return view.certificates[-1], True


async def save_certificate(args: argparse.Namespace, orders: OrderClient) -> int:
    """Get the certificate, check the stored bytes against its hash, then write or point at them."""
    certificate, closed = await latest_certificate(orders, args.order_id, args.by)
    document = certificate.document
    path = read_document(args, document)  # the worker's store (its bucket or directory), or --dir
    if args.json:
        print_json(
            {"order_id": args.order_id, "number": certificate.number, "issued_at": certificate.issued_at.isoformat()}
            | document.model_dump(mode="json")
            | {"closed": closed, "path": path, "out": str(args.out) if args.out else None}
        )
        return Exit.OK
    done = "saved to" if args.out is not None else "is at"
    line = f"Evidence certificate {certificate.number} of order {args.order_id} ({document.size} bytes) {done}"
    console.out.print(escape(f"{line} {args.out or path}"), soft_wrap=True)
    console.out.print(f"SHA-256 {document.sha256} (checked against the order)", highlight=False, soft_wrap=True)
    if closed:
        console.out.print(
            escape(f"The order is closed: this is the certificate it issued last ({certificate.issued_at:%Y-%m-%d}).")
        )
    return Exit.OK
