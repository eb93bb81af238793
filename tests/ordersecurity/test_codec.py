"""The payload codec alone: round trip, rotation, unknown keys, tampering, old payloads, key parsing."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure

from ordersecurity import codec as codec_module
from ordersecurity.codec import (
    ARRIVED_PLAIN,
    COMPRESSION_METADATA,
    ENCODING,
    KEY_ID_METADATA,
    KEYS_ENV,
    EncryptionCodec,
    KeyConfigError,
    KeyRing,
    PayloadDecryptionError,
    arrived_plain,
    keys_from_environment,
    new_key_entry,
    write_local_key,
)
from workflows.converter import data_converter
from workflows.models import Customer

OLD = new_key_entry("k1")
NEW = new_key_entry("k2")
SECRET_EMAIL = "zelda.quince@example.org"


def ring(*entries: str) -> KeyRing:
    return KeyRing.parse(",".join(entries))


def json_payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def test_round_trip_hides_the_data_and_restores_the_payload() -> None:
    codec = EncryptionCodec(ring(OLD))
    original = json_payload('{"email": "' + SECRET_EMAIL + '", "note": "' + "x" * 400 + '"}')
    [encoded] = await codec.encode([original])
    assert encoded.metadata["encoding"] == ENCODING
    assert encoded.metadata[KEY_ID_METADATA] == b"k1"
    assert encoded.metadata[COMPRESSION_METADATA] == b"zlib"
    assert SECRET_EMAIL.encode() not in encoded.data
    assert b"json/plain" not in encoded.SerializeToString()  # the inner encoding is hidden too
    assert len(encoded.data) < len(original.data)  # compressed before encryption
    [decoded] = await codec.decode([encoded])
    assert decoded == original


async def test_tiny_payloads_are_not_compressed_but_still_encrypted() -> None:
    codec = EncryptionCodec(ring(OLD))
    [encoded] = await codec.encode([json_payload("1")])
    assert encoded.metadata[COMPRESSION_METADATA] == b"none"
    [decoded] = await codec.decode([encoded])
    assert decoded.data == b"1"


async def test_rotation_new_key_encrypts_old_key_still_decrypts() -> None:
    before = EncryptionCodec(ring(OLD))
    [old_payload] = await before.encode([json_payload('"written with k1"')])
    rotated = EncryptionCodec(ring(NEW, OLD))
    [new_payload] = await rotated.encode([json_payload('"written with k2"')])
    assert new_payload.metadata[KEY_ID_METADATA] == b"k2"
    decoded = await rotated.decode([old_payload, new_payload])
    assert [p.data for p in decoded] == [b'"written with k1"', b'"written with k2"']


async def test_unknown_key_id_is_named_in_the_error() -> None:
    [encoded] = await EncryptionCodec(ring(NEW)).encode([json_payload('"x"')])
    with pytest.raises(PayloadDecryptionError, match=r"'k2'.*known key ids: k1") as caught:
        await EncryptionCodec(ring(OLD)).decode([encoded])
    assert caught.value.key_id == "k2"


async def test_unknown_key_without_any_keys_says_so() -> None:
    [encoded] = await EncryptionCodec(ring(OLD)).encode([json_payload('"x"')])
    with pytest.raises(PayloadDecryptionError, match=rf"'k1'.*{KEYS_ENV} is not set"):
        await EncryptionCodec(KeyRing()).decode([encoded])


@pytest.mark.parametrize("where", ["ciphertext", "nonce", "key id", "compression"])
async def test_tampering_fails_with_the_key_id_never_garbage(where: str) -> None:
    codec = EncryptionCodec(ring(OLD, new_key_entry("k1b")))
    [encoded] = await codec.encode([json_payload('"' + "a" * 200 + '"')])
    if where == "ciphertext":
        data = bytearray(encoded.data)
        data[-20] ^= 0x01
        encoded.data = bytes(data)
    elif where == "nonce":
        data = bytearray(encoded.data)
        data[0] ^= 0x80
        encoded.data = bytes(data)
    elif where == "key id":
        encoded.metadata[KEY_ID_METADATA] = b"k1b"  # a key this process has, but not the one that sealed it
    else:
        encoded.metadata[COMPRESSION_METADATA] = b"none"
    with pytest.raises(PayloadDecryptionError, match="failed to decrypt") as caught:
        await codec.decode([encoded])
    assert caught.value.key_id in {"k1", "k1b"}
    assert caught.value.key_id in str(caught.value)


async def test_a_different_key_under_the_same_id_is_detected() -> None:
    [encoded] = await EncryptionCodec(ring(OLD)).encode([json_payload('"x"')])
    impostor = "k1:" + OLD.split(":", 1)[1][::-1].replace("=", "A")[:43] + "="
    with pytest.raises(PayloadDecryptionError, match="'k1'"):
        await EncryptionCodec(KeyRing.parse(impostor)).decode([encoded])


def unmarked(payload: Payload) -> Payload:
    """The payload without the mark ``decode`` puts on JSON that arrived in clear text."""
    copy = Payload()
    copy.CopyFrom(payload)
    copy.metadata.pop(ARRIVED_PLAIN, None)
    return copy


async def test_payloads_written_before_encryption_pass_through() -> None:
    plain = json_payload('{"name": "Old Order"}')
    binary_null = Payload(metadata={"encoding": b"binary/null"})
    decoded = await EncryptionCodec(ring(OLD)).decode([plain, binary_null])
    assert [unmarked(p) for p in decoded] == [plain, binary_null]
    assert [arrived_plain(p) for p in decoded] == [True, False]  # JSON in clear text is marked for the order


async def test_no_keys_means_pass_through_both_ways() -> None:
    plain = json_payload('"x"')
    codec = EncryptionCodec(KeyRing())
    assert await codec.encode([plain]) == [plain]
    assert [unmarked(p) for p in await codec.decode([plain])] == [plain]


async def test_a_decrypted_payload_is_not_marked_plain() -> None:
    codec = EncryptionCodec(ring(OLD))
    [decoded] = await codec.decode(await codec.encode([json_payload('"x"')]))
    assert not arrived_plain(decoded)


async def test_the_shared_converter_encrypts_with_the_environment_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEYS_ENV, OLD)
    customer = Customer(name="Zelda Quince", email=SECRET_EMAIL, company="Quince Widgets")
    [payload] = await data_converter.encode([customer])
    assert payload.metadata[KEY_ID_METADATA] == b"k1"
    assert SECRET_EMAIL.encode() not in payload.data
    assert await data_converter.decode([payload], [Customer]) == [customer]
    monkeypatch.setenv(KEYS_ENV, "")  # set but empty: explicitly no encryption
    [plain] = await data_converter.encode([customer])
    assert SECRET_EMAIL.encode() in plain.data


async def test_failure_messages_are_encoded_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEYS_ENV, OLD)
    proto = Failure()
    await data_converter.encode_failure(ValueError(f"no mailbox {SECRET_EMAIL}"), proto)
    assert SECRET_EMAIL.encode() not in proto.SerializeToString()
    error = await data_converter.decode_failure(proto)
    assert SECRET_EMAIL in str(error)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("k1", "without ':'"),
        ("k 1:" + base64.b64encode(b"0" * 32).decode(), "key id"),
        ("k1:not-base64!", "not valid base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "5 bytes"),
        (OLD + "," + OLD, "appears twice"),
    ],
)
def test_bad_key_configuration_names_the_problem(text: str, problem: str) -> None:
    with pytest.raises(KeyConfigError, match=problem):
        KeyRing.parse(text)


def test_keys_parse_in_order_commas_and_newlines() -> None:
    parsed = KeyRing.parse(f"# comment\n{NEW}\n{OLD}\n")
    assert parsed.ids == ("k2", "k1")
    assert parsed.encrypting_key_id == "k2"


def test_local_key_file_is_private_kept_and_used_when_the_variable_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(KEYS_ENV, raising=False)
    assert not keys_from_environment().ring.active
    assert write_local_key() is True
    path = tmp_path / codec_module.LOCAL_KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = path.read_text()
    assert write_local_key() is False  # kept, never replaced
    assert path.read_text() == first
    source = keys_from_environment()
    assert source.ring.active
    assert source.origin == str(codec_module.LOCAL_KEY_FILE)
    monkeypatch.setenv(KEYS_ENV, "")  # the variable, even empty, wins over the file
    assert not keys_from_environment().ring.active


async def test_compression_cuts_history_bytes() -> None:
    """The benchmark's own check, on a committed history: zlib + AES is smaller than AES alone, and than plain."""
    from bench import codec_cost

    history = codec_cost.load(codec_cost.DEFAULT_HISTORY)
    ring = KeyRing.parse(OLD)
    plain = await codec_cost.encoded_history(history, None)
    aes_only = await codec_cost.encoded_history(history, EncryptionCodec(ring, compress=False))
    compressed = await codec_cost.encoded_history(history, EncryptionCodec(ring))
    assert compressed < aes_only
    assert compressed < plain * 1.05
