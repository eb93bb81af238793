"""The codec server: operators read encrypted orders in the Temporal UI (``orders codec-server``).

Temporal's codec-server protocol, served by Starlette and uvicorn like the
webhook receiver: ``POST .../encode`` and ``POST .../decode`` take and return
``{"payloads": [...]}``, protobuf JSON with base64 ``data`` and ``metadata``.
Only the last part of the path counts, so the server may sit under any prefix
behind a proxy. The codec is the project's own (``ordersecurity/codec.py``), with
the keys of ``ORDERS_ENCRYPTION_KEYS``.

It hands out decrypted personal data, so:

- every request needs ``Authorization: Bearer <ORDERS_CODEC_TOKEN>``;
  without it the answer is 401 and nothing is decoded. The Temporal UI sends
  an ``Authorization`` header only when it has an SSO session and its codec
  setting "pass the user access token" is on; the token it forwards is then
  the user's, so in a deployment an authenticating proxy in front of this
  server checks the user and adds the bearer token (docs/deployment.md).
- ``orders dev`` starts it with ``allow_loopback=True``: on 127.0.0.1, for
  requests from the same machine, no token is needed, because the dev
  server's UI cannot send one. Anyone on that machine can read the key file
  in ``.orders/`` anyway. Nothing else turns this on.
- browsers may call it only from the origins in ``ORDERS_CODEC_CORS_ORIGINS``
  (comma-separated, e.g. ``http://localhost:8080``); a page from any other
  origin cannot read the answers.
- request bodies are capped at ``MAX_BODY_BYTES`` (413 above it).

A payload it cannot decrypt (an unknown key id, or altered) comes back as it
was, still encrypted, and the log names the key id; the rest of the batch is
decoded.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Sequence
from typing import Final

from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from ordersecurity.codec import ErasedPayloadError, KeyConfigError, PayloadDecryptionError
from orderweb.bodies import CLIENT_GONE, read_capped

log = logging.getLogger("orders.codec_server")

TOKEN_ENV: Final = "ORDERS_CODEC_TOKEN"
CORS_ENV: Final = "ORDERS_CODEC_CORS_ORIGINS"
DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8888
MAX_BODY_BYTES: Final = 4 * 1024 * 1024
"""The UI decodes one event's or one query's payloads per request; Temporal caps a payload at 2 MB."""
LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})
ALLOWED_HEADERS: Final = (
    "Authorization",
    "Content-Type",
    "X-Namespace",
    "Caller-Type",
    "Client-Name",
    "Client-Version",
)


class CodecServerConfigError(Exception):
    """The server would be open to anyone, or is misconfigured; the message says what to set."""


def cors_origins_from_env() -> list[str]:
    return [origin.strip().rstrip("/") for origin in os.environ.get(CORS_ENV, "").split(",") if origin.strip()]


def _authorized(request: Request, token: str | None, allow_loopback: bool) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode()):
        return True
    return allow_loopback and request.client is not None and request.client.host in LOOPBACK


def create_app(
    codec: PayloadCodec,
    *,
    token: str | None,
    cors_origins: Sequence[str] = (),
    allow_loopback: bool = False,
) -> Starlette:
    """The ASGI app. ``token`` None with ``allow_loopback`` False would let nobody in: refused."""
    if not token and not allow_loopback:
        raise CodecServerConfigError(
            f"{TOKEN_ENV} is not set: the codec server decrypts customers' personal data and must not answer "
            "without a token (generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )

    async def handle(request: Request) -> Response:
        operation = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        if operation not in ("encode", "decode"):
            return JSONResponse({"error": "not found: POST .../encode or .../decode"}, status_code=404)
        if not _authorized(request, token, allow_loopback):
            log.warning("codec %s refused: no valid bearer token (from %s)", operation, _peer(request))
            return JSONResponse(
                {"error": "unauthorized"}, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="codec"'}
            )
        body = await read_capped(request, MAX_BODY_BYTES)
        if body is None:
            return JSONResponse({"error": f"body larger than {MAX_BODY_BYTES} bytes"}, status_code=413)
        payloads = Payloads()
        try:
            json_format.Parse(body, payloads)
        except (json_format.ParseError, UnicodeDecodeError) as error:
            return JSONResponse({"error": f"not a Payloads JSON object: {error}"}, status_code=400)
        if operation == "encode":
            try:
                result = await codec.encode(payloads.payloads)
            except KeyConfigError as error:  # no key: nothing is sent in clear text from the UI either
                log.warning("codec encode refused: %s", error)
                return JSONResponse({"error": str(error)}, status_code=503)
        else:
            result = [await _decode_one(codec, payload) for payload in payloads.payloads]
        return Response(
            json_format.MessageToJson(Payloads(payloads=result), indent=None),
            media_type="application/json",
        )

    routes = [Route("/{path:path}", handle, methods=["POST"])]
    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["POST"],
            allow_headers=list(ALLOWED_HEADERS),
            allow_credentials=True,
            max_age=600,
        )
    ]
    return Starlette(routes=routes, middleware=middleware, exception_handlers=CLIENT_GONE)


async def _decode_one(codec: PayloadCodec, payload: Payload) -> Payload:
    try:
        [decoded] = await codec.decode([payload])
    except ErasedPayloadError as erased:
        # What the UI shows in place of the payload: the order's data will never be readable again.
        marker = {"erased": f"this order's personal data was erased on {erased.erased_at:%Y-%m-%d}"}
        return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(marker).encode())
    except PayloadDecryptionError as error:
        log.warning("codec decode: a payload stays encrypted: %s", error)
        return payload
    return decoded


def _peer(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Run until Ctrl-C (``orders codec-server``), with the keys, token and origins from the environment."""
    from activities.config import ConfigError, HttpLimits
    from orderclient import tracing
    from ordersecurity.codec import keys_from_environment
    from orderweb.serving import run
    from workflows.converter import codec

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    source = keys_from_environment()
    tracing.configure("orders-codec-server")  # OTEL_*: off when unset (orderclient/tracing.py)
    if not source.ring.active:
        log.warning("no encryption keys (ORDERS_ENCRYPTION_KEYS): payloads pass through undecoded")
    else:
        log.info("codec server decrypts with key ids %s (from %s)", ", ".join(source.ring.ids), source.origin)
    origins = cors_origins_from_env()
    if not origins:
        log.warning("%s is not set: browsers (the Temporal UI) cannot call this server", CORS_ENV)
    app = create_app(codec, token=os.environ.get(TOKEN_ENV, "").strip() or None, cors_origins=origins)
    try:
        limits = HttpLimits.from_env()
    except ConfigError as error:
        raise CodecServerConfigError(str(error)) from None
    run(app, host, port, limits)
