"""``orders document ID --version N`` (or ``--receipt N``): a confirmation version's PDF (or a
payment's receipt) from the worker's document store, checked against the SHA-256 the order
recorded; and the line ``orders confirm`` prints about that PDF.

The order (``orders status``) says which file and which hash; the bytes are read
from the worker's document store, configured as the worker's is: its bucket
(``ORDERS_DOCUMENTS_BUCKET`` and boto3's variables), else its directory
(``ORDERS_DOCUMENTS_DIR``, else ``documents`` beside the outbox), or the
directory ``--dir`` names.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from rich.markup import escape

from starter import console
from starter.console import CliError, Exit, print_json
from workflows.models import Confirmation, DocumentRef, OrderView

# How long ``orders confirm`` waits for the worker to store the PDF before saying it is being prepared.
PDF_POLLS = 20
PDF_POLL_INTERVAL = 0.25


def add_document_parser(sub: Any, client: argparse.ArgumentParser, handler: Any) -> None:
    p = sub.add_parser(
        "document",
        parents=[client],
        help="save a confirmation version's PDF or a payment's receipt, checked against the order's hash",
        description=(
            "Read confirmation version N's PDF (or the receipt of the order's Nth payment) from the worker's "
            "document store, check its SHA-256 against the one the order recorded, and save it to --out (or say "
            "where it is). It reads the store the worker's configuration names: the bucket ORDERS_DOCUMENTS_BUCKET "
            "(with AWS_ENDPOINT_URL_S3 and the AWS_* credentials), else the directory ORDERS_DOCUMENTS_DIR "
            "(default: documents beside ORDERS_OUTBOX_DIR, .orders/documents)."
        ),
    )
    p.add_argument("order_id", metavar="ID")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--version", type=int, metavar="N", help="the confirmation version")
    which.add_argument("--receipt", type=int, metavar="N", help="the receipt of the order's Nth payment")
    p.add_argument("--out", type=Path, default=None, metavar="FILE", help="write the PDF here")
    p.add_argument(
        "--dir", type=Path, default=None, help="a document directory (default: the worker's bucket or directory)"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=handler)


def _version(view: OrderView, version: int) -> Confirmation:
    for confirmation in view.confirmations:
        if confirmation.version == version:
            return confirmation
    versions = ", ".join(str(c.version) for c in view.confirmations) or "none yet"
    raise CliError(Exit.USAGE, f"order {view.order_id} has no confirmation version {version} (versions: {versions})")


def _receipt(view: OrderView, number: int) -> DocumentRef:
    """The receipt of the order's ``number``th payment (the number the receipt bears)."""
    if not 1 <= number <= len(view.payments):
        receipts = ", ".join(str(n) for n, p in enumerate(view.payments, start=1) if p.receipt) or "none yet"
        raise CliError(Exit.USAGE, f"order {view.order_id} has no receipt {number} (receipts: {receipts})")
    receipt = view.payments[number - 1].receipt
    if receipt is None:
        raise CliError(
            Exit.REJECTED,
            f"order {view.order_id} has no PDF of receipt {number}: it is being prepared, or the payment was "
            "counted before the worker made receipts, or it could not be made (operations were emailed: "
            "document_failed)",
        )
    return receipt


def _chosen(args: argparse.Namespace, view: OrderView) -> tuple[DocumentRef, str, dict[str, int]]:
    """The document ``--version`` or ``--receipt`` names: its reference, its name in words, its key in JSON."""
    if args.receipt is not None:
        return _receipt(view, args.receipt), f"Receipt {args.receipt}", {"receipt": args.receipt}
    document = _version(view, args.version).document
    if document is None:
        raise CliError(
            Exit.REJECTED,
            f"order {view.order_id} has no PDF of confirmation version {args.version}: it is being prepared, "
            "or the version was issued before the worker made PDFs, or it could not be made (operations were "
            "emailed: document_failed)",
        )
    return document, f"Confirmation v{args.version}", {"version": args.version}


def read_document(args: argparse.Namespace, document: DocumentRef) -> str:
    """Read ``document`` from the store the worker's configuration names (or ``--dir``), checked
    against the order's hash, and write it to ``--out`` if given; where it is in the store.
    Shared by ``orders document`` and ``orders evidence``."""
    from activities.config import ConfigError, Settings
    from activities.document_store import DocumentError, DocumentStore, LocalDocumentStore, open_document_store

    store: DocumentStore
    if args.dir is not None:
        store, hint = LocalDocumentStore(args.dir), "is this the worker's ORDERS_DOCUMENTS_DIR? --dir names another"
    else:
        try:
            settings = Settings.from_env()
        except ConfigError as error:
            raise CliError(Exit.USAGE, str(error)) from None
        store = open_document_store(settings)
        hint = (
            "is this the worker's ORDERS_DOCUMENTS_BUCKET and endpoint?"
            if settings.documents_bucket is not None
            else "is this the worker's ORDERS_DOCUMENTS_DIR? --dir names another"
        )
    try:
        data = store.get(document.id, expected_sha256=document.sha256)
    except DocumentError as error:
        raise CliError(Exit.REJECTED, f"{error} ({hint})") from None
    if args.out is not None:
        try:
            args.out.write_bytes(data)
        except OSError as error:
            raise CliError(Exit.USAGE, f"cannot write {args.out}: {error.strerror or error}") from None
    return store.location(document.id)


def save_document(args: argparse.Namespace, view: OrderView) -> int:
    """Check the stored bytes against the order's record, then write or point at them."""
    document, name, key = _chosen(args, view)
    location = read_document(args, document)
    if args.json:
        print_json(
            {"order_id": view.order_id, **key}
            | document.model_dump(mode="json")
            | {"path": location, "out": str(args.out) if args.out else None}
        )
        return Exit.OK
    done = "saved to" if args.out is not None else "is at"
    console.out.print(
        escape(f"{name} of order {view.order_id} ({document.size} bytes) {done} {args.out or location}"),
        soft_wrap=True,
    )
    console.out.print(f"SHA-256 {document.sha256} (checked against the order)", highlight=False, soft_wrap=True)
    return Exit.OK


async def report_confirmation_pdf(status: Any, order_id: str) -> str:
    """The line ``orders confirm`` adds: the new version's PDF hash once the worker has sent
    its email with it (usually within a second), else that it is being prepared."""
    latest = None
    for attempt in range(PDF_POLLS):
        view: OrderView = await status(order_id)
        latest = view.confirmations[-1] if view.confirmations else None
        if latest is not None and latest.document is not None:
            return f"  PDF of v{latest.version}: SHA-256 {latest.document.sha256}"
        if attempt + 1 < PDF_POLLS:
            await asyncio.sleep(PDF_POLL_INTERVAL)
    version = latest.version if latest is not None else "N"
    return (
        f"  PDF of v{version}: being prepared (it goes with the confirmation email); "
        f"`orders document {order_id} --version {version}` saves it once the order has it"
    )
