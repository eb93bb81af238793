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
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from rich.markup import escape
from rich.text import Text

from orderclient import client as order_client
from orderclient import summaries, tracing
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
from orderclient.errors import OrderErased
from ordersecurity.codec import KeyConfigError, PayloadDecryptionError
from starter import console
from starter.action_commands import add_action_parsers, build_action
from starter.card_command import last_charge_attempt, report_charge
from starter.console import DEFAULT_UPDATE_SECONDS, CliError, Exit, print_json, read_json, validate
from starter.document_command import add_document_parser, report_confirmation_pdf, save_document
from starter.erase_command import (
    add_erase_parsers,
    erase_closed_before,
    operator,
    set_hold,
    show_erased,
    show_erasure,
)
from starter.evidence_command import add_evidence_parser, save_certificate
from starter.order_panel import add_row, new_table, render_view, show, when
from starter.outbox_command import cmd_outbox
from workflows import names
from workflows.models import ActionResult, OrderStatus, StartOrderInput

CONNECT_TIMEOUT: Final = order_client.CONNECT_TIMEOUT

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
        console.out.print(f"Order [bold]{started.order_id}[/] already exists")
    else:
        console.out.print(f"Order [bold]{started.order_id}[/] started")
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
        attempts_before = await last_charge_attempt(orders, args.order_id) if charging else None
        if args.signal:
            sent = await orders.send_signal(args.order_id, name, action)
            if args.json:
                print_json({"order_id": args.order_id, "action": name, "request_id": sent.request_id, "queued": True})
            else:
                console.out.print(
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
        return Exit.OK
    print_result(name, result, request_id)
    if name == names.ISSUE_CONFIRMATION and result.applied:
        with cli_errors():
            line = await report_confirmation_pdf(orders.status, args.order_id)
        console.out.print(Text(line), soft_wrap=True)
    return Exit.OK


def print_result(name: str, result: ActionResult, request_id: str) -> None:
    if result.applied:
        line = f"[green]✓[/] {name} applied to order [bold]{result.order_id}[/]: now [bold]{result.status}[/]"
    else:
        line = f"[yellow]=[/] {name} was already applied to order [bold]{result.order_id}[/]: [bold]{result.status}[/]"
    # Never wrapped by Rich: a request id broken across lines cannot be copied back (exit 5's advice).
    console.out.print(line + f" (request id {request_id})", highlight=False, soft_wrap=True)
    if result.message:
        console.out.print(Text(f"  {result.message}"))


async def cmd_status(args: argparse.Namespace) -> int:
    orders = await connect(args)
    with cli_errors():
        try:
            view = await (orders.status_in_full if args.all else orders.status)(args.order_id)
        except OrderErased as gone:
            return show_erased(gone, args.json)
    if args.json:
        print_json(view.model_dump(mode="json"))
    else:
        show(render_view(view))
    return Exit.OK


async def cmd_erase(args: argparse.Namespace) -> int:
    if (args.order_id is None) == (args.closed_before is None):
        raise CliError(Exit.USAGE, "name one order (ID) or --closed-before DATE, not both")
    orders = await connect(args)
    with cli_errors():
        if args.closed_before is not None:
            return await erase_closed_before(args, orders)
        erasure = await orders.erase(args.order_id, args.reason, operator(args))
    return show_erasure(args.order_id, erasure.record, erasure.already, args.json)


async def cmd_document(args: argparse.Namespace) -> int:
    orders = await connect(args)
    with cli_errors():
        view = await orders.status(args.order_id)
    return save_document(args, view)


async def cmd_evidence(args: argparse.Namespace) -> int:
    orders = await connect(args)
    with cli_errors():
        return await save_certificate(args, orders)


def list_query(status: str | None, *, overdue: bool = False) -> str:
    try:
        return summaries.list_query(status, overdue=overdue)
    except ValueError as error:
        raise CliError(Exit.USAGE, str(error)) from None


async def cmd_list(args: argparse.Namespace) -> int:
    list_query(args.status, overdue=args.overdue)  # a bad status is a usage error before connecting
    orders = await connect(args)
    with cli_errors():
        summaries = await orders.list(args.status, overdue=args.overdue)
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
        console.out.print("no orders")
        return Exit.OK
    table = new_table("", "Order", "Status", "Next deadline", "Started")
    for row in rows:
        add_row(table, row["order_id"], row["status"] or "?", when(row["next_deadline"]), when(row["started_at"]))
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
    console.out.print(f"wrote {len(all_schemas)} schemas to {directory}")
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
        console.out.print(new_key_entry(args.key_id), highlight=False, soft_wrap=True)
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
        trace=args.trace,
    )
    try:
        return asyncio.run(dev.run(options))
    except dev.DevError as error:
        raise CliError(Exit(error.code), error.message) from None


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
            "is busy, orders dev runs without it. State is kept in .orders/: the database, the outbox, the "
            "confirmation PDFs, the local encryption key (unless ORDERS_ENCRYPTION_KEYS is set) and the link "
            "secret. One orders dev per database: a second one on the same --db says the first is already "
            "running and exits."
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
    p.add_argument(
        "--trace",
        action="store_true",
        help="trace every order action (OpenTelemetry): spans go to OTEL_EXPORTER_OTLP_ENDPOINT if set, "
        "else to the console",
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
    p.add_argument(
        "--overdue", action="store_true", help="only orders with an instalment of their payment schedule overdue"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_list)

    add_document_parser(sub, client, cmd_document)
    add_evidence_parser(sub, client, cmd_evidence)
    add_erase_parsers(sub, client, cmd_erase, set_hold)

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
        console.err.print(f"[red]error:[/] {escape(error.message)}", highlight=False, soft_wrap=True)
        return int(error.code)
    except (KeyConfigError, PayloadDecryptionError, tracing.TracingConfigError) as error:  # bad keys or OTEL_*
        console.err.print(f"[red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        return int(Exit.USAGE)
    except KeyboardInterrupt:
        console.err.print("interrupted")
        return 130


def run() -> None:
    """Console script ``orders``.

    Exits without interpreter finalization: the Temporal client's Rust threads
    can otherwise abort the process at exit ("PyGILState_Release ... must be
    current when releasing", temporalio/sdk-python#300), turning exit code 3
    into 134 now and then.
    """
    code = main()
    tracing.shutdown()  # export the command's spans (OTEL_*) before os._exit
    gc.collect()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
