"""The codec server: the token, CORS, the size cap, and the protocol the Temporal UI speaks."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.api.common.v1 import Payload

from ordersecurity.codec import ENCODING, KEY_ID_METADATA, EncryptionCodec, KeyRing, new_key_entry
from orderweb.codec_server import MAX_BODY_BYTES, CodecServerConfigError, create_app
from tests.helpers import free_port

TOKEN = "s3cret-token-for-tests"
UI = "http://localhost:8080"
KEYS = new_key_entry("k1")
CUSTOMER = '{"name": "Quentin Zebulon-Marsh", "email": "qzm@example.net"}'


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def as_json(payload: Payload) -> dict[str, Any]:
    """A payload as the UI sends it: protobuf JSON, base64 bytes."""
    return {"metadata": {k: b64(v) for k, v in payload.metadata.items()}, "data": b64(payload.data)}


async def encrypted_customer(codec: EncryptionCodec) -> Payload:
    [payload] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=CUSTOMER.encode())])
    return payload


def client_for(app: Any, peer: str = "203.0.113.9") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(peer, 40000)), base_url="http://codec")


@pytest.fixture
def codec() -> EncryptionCodec:
    return EncryptionCodec(KeyRing.parse(KEYS))


async def test_decode_with_the_token_returns_the_customer(codec: EncryptionCodec) -> None:
    app = create_app(codec, token=TOKEN, cors_origins=[UI])
    body = {"payloads": [as_json(await encrypted_customer(codec))]}
    async with client_for(app) as http:
        response = await http.post("/decode", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    [decoded] = response.json()["payloads"]
    assert base64.b64decode(decoded["data"]).decode() == CUSTOMER
    assert base64.b64decode(decoded["metadata"]["encoding"]) == b"json/plain"


async def test_the_path_prefix_does_not_matter_only_its_last_part(codec: EncryptionCodec) -> None:
    app = create_app(codec, token=TOKEN)
    body = {"payloads": [as_json(await encrypted_customer(codec))]}
    async with client_for(app) as http:
        response = await http.post("/ns/default/decode", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        other = await http.post("/ns/default/whatever", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert other.status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}", TOKEN])
async def test_without_the_token_401_and_nothing_decoded(codec: EncryptionCodec, header: str | None) -> None:
    app = create_app(codec, token=TOKEN, cors_origins=[UI])
    body = {"payloads": [as_json(await encrypted_customer(codec))]}
    headers = {"Authorization": header} if header else {}
    async with client_for(app) as http:
        decode = await http.post("/decode", json=body, headers=headers)
        encode = await http.post("/encode", json=body, headers=headers)
    assert decode.status_code == 401
    assert encode.status_code == 401
    assert "Quentin" not in decode.text and "qzm@" not in decode.text
    assert decode.headers["www-authenticate"].startswith("Bearer")


async def test_encode_with_the_token_encrypts(codec: EncryptionCodec) -> None:
    app = create_app(codec, token=TOKEN)
    plain = Payload(metadata={"encoding": b"json/plain"}, data=CUSTOMER.encode())
    async with client_for(app) as http:
        response = await http.post(
            "/encode", json={"payloads": [as_json(plain)]}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
    [encoded] = response.json()["payloads"]
    assert base64.b64decode(encoded["metadata"]["encoding"]) == ENCODING
    assert base64.b64decode(encoded["metadata"][KEY_ID_METADATA]) == b"k1"
    assert b"Quentin" not in base64.b64decode(encoded["data"])


async def test_encode_without_a_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A codec server deployed without the key sends nothing from the UI in clear text."""
    monkeypatch.setenv("ORDERS_ENCRYPTION_KEYS", "")
    monkeypatch.delenv("ORDERS_ENCRYPTION", raising=False)
    app = create_app(EncryptionCodec(), token=TOKEN)
    plain = Payload(metadata={"encoding": b"json/plain"}, data=CUSTOMER.encode())
    async with client_for(app) as http:
        response = await http.post(
            "/encode", json={"payloads": [as_json(plain)]}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert response.status_code == 503 and "ORDERS_ENCRYPTION_KEYS" in response.json()["error"]
    assert "Quentin" not in response.text


async def test_cors_answers_the_ui_origin_only(codec: EncryptionCodec) -> None:
    app = create_app(codec, token=TOKEN, cors_origins=[UI])
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    async with client_for(app) as http:
        allowed = await http.options("/decode", headers={"Origin": UI, **preflight})
        refused = await http.options("/decode", headers={"Origin": "https://evil.example", **preflight})
        body = {"payloads": [as_json(await encrypted_customer(codec))]}
        auth = {"Authorization": f"Bearer {TOKEN}"}
        from_ui = await http.post("/decode", json=body, headers={"Origin": UI, **auth})
        from_elsewhere = await http.post("/decode", json=body, headers={"Origin": "https://evil.example", **auth})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == UI
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert from_ui.headers["access-control-allow-origin"] == UI
    # Another origin's page gets no CORS header, so its browser withholds the answer.
    assert "access-control-allow-origin" not in from_elsewhere.headers


async def test_bodies_over_the_cap_are_refused_unread(codec: EncryptionCodec) -> None:
    app = create_app(codec, token=TOKEN)
    huge = json.dumps({"payloads": [{"data": b64(b"x" * MAX_BODY_BYTES)}]})
    async with client_for(app) as http:
        response = await http.post(
            "/decode", content=huge, headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        )
    assert response.status_code == 413


async def test_not_payloads_json_is_400(codec: EncryptionCodec) -> None:
    app = create_app(codec, token=TOKEN)
    async with client_for(app) as http:
        response = await http.post("/decode", content=b"{not json", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 400


async def test_an_undecryptable_payload_stays_encrypted_the_rest_decode(codec: EncryptionCodec) -> None:
    stranger = EncryptionCodec(KeyRing.parse(new_key_entry("other")))
    app = create_app(codec, token=TOKEN)
    body = {"payloads": [as_json(await encrypted_customer(stranger)), as_json(await encrypted_customer(codec))]}
    async with client_for(app) as http:
        response = await http.post("/decode", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    first, second = response.json()["payloads"]
    assert base64.b64decode(first["metadata"][KEY_ID_METADATA]) == b"other"
    assert base64.b64decode(second["data"]).decode() == CUSTOMER


async def test_loopback_without_token_only_when_orders_dev_asks(codec: EncryptionCodec) -> None:
    body = {"payloads": [as_json(await encrypted_customer(codec))]}
    dev_app = create_app(codec, token=None, cors_origins=[UI], allow_loopback=True)
    async with client_for(dev_app, peer="127.0.0.1") as http:
        assert (await http.post("/decode", json=body)).status_code == 200
    async with client_for(dev_app, peer="192.168.1.20") as http:
        assert (await http.post("/decode", json=body)).status_code == 401
    token_app = create_app(codec, token=TOKEN)
    async with client_for(token_app, peer="127.0.0.1") as http:
        assert (await http.post("/decode", json=body)).status_code == 401


def test_no_token_and_no_loopback_mode_refuses_to_start(codec: EncryptionCodec) -> None:
    with pytest.raises(CodecServerConfigError, match="ORDERS_CODEC_TOKEN"):
        create_app(codec, token=None)


@pytest.fixture
async def codec_server_process() -> AsyncIterator[str]:
    """``orders codec-server`` itself, as an operator starts it."""
    port = free_port()
    env = {**os.environ, "ORDERS_ENCRYPTION_KEYS": KEYS, "ORDERS_CODEC_TOKEN": TOKEN, "ORDERS_CODEC_CORS_ORIGINS": UI}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from starter.cli import run; run()",
        "codec-server",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(100):
                try:
                    await http.post(f"{url}/decode")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        yield url
    finally:
        process.terminate()
        await process.wait()


async def test_orders_codec_server_serves_the_protocol(codec_server_process: str, codec: EncryptionCodec) -> None:
    body = {"payloads": [as_json(await encrypted_customer(codec))]}
    async with httpx.AsyncClient() as http:
        refused = await http.post(f"{codec_server_process}/decode", json=body)
        decoded = await http.post(
            f"{codec_server_process}/decode", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert refused.status_code == 401
    assert base64.b64decode(decoded.json()["payloads"][0]["data"]).decode() == CUSTOMER


def test_orders_codec_server_without_a_token_is_a_usage_error() -> None:
    from starter.cli import main

    env_before = os.environ.pop("ORDERS_CODEC_TOKEN", None)
    try:
        assert main(["codec-server", "--port", str(free_port())]) == 2
    finally:
        if env_before is not None:
            os.environ["ORDERS_CODEC_TOKEN"] = env_before
