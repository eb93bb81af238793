"""The document store in an S3 bucket (activities/s3_documents.py), against moto's S3 API
on a free port with the real boto3 client: the same guarantees as the local directory.
Each document is written once (a conditional write, If-None-Match), carries its SHA-256
with it, and comes back only while its bytes still have that hash and the order's."""

from __future__ import annotations

import base64
import hashlib
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from activities.config import ConfigError, DocumentBucket, Settings
from activities.document_store import (
    DocumentConflict,
    DocumentError,
    DocumentMissing,
    DocumentTampered,
    DocumentUnavailable,
    LocalDocumentStore,
    open_document_store,
)
from activities.s3_documents import S3DocumentStore
from tests.s3.conftest import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Double

ID = "ORD-1/confirmation-v1.pdf"


@pytest.fixture
def store(s3_api: S3Double) -> S3DocumentStore:
    return S3DocumentStore(s3_api.bucket(s3_api.new_bucket()))


def test_a_document_goes_in_and_comes_back_hash_checked(s3_api: S3Double, store: S3DocumentStore) -> None:
    stored = store.put(ID, b"%PDF-one")
    assert (stored.id, stored.size, stored.sha256) == (ID, 8, hashlib.sha256(b"%PDF-one").hexdigest())
    assert store.get(ID) == b"%PDF-one"
    assert store.get(ID, expected_sha256=stored.sha256) == b"%PDF-one"
    # The hash travels with the object: in its metadata, and as S3's own SHA-256 checksum.
    head = s3_api.raw.head_object(Bucket=store.bucket.bucket, Key=ID)
    assert head["Metadata"] == {"sha256": stored.sha256}
    assert head["ContentType"] == "application/pdf"
    assert store.location(ID) == f"s3://{store.bucket.bucket}/{ID}"


def test_a_document_is_written_once(s3_api: S3Double, store: S3DocumentStore) -> None:
    first = store.put(ID, b"%PDF-one")
    assert store.put(ID, b"%PDF-one") == first
    # Other bytes under the same id (a retry after the worker changed): the stored document stands.
    assert store.put(ID, b"%PDF-two") == first
    assert store.get(ID) == b"%PDF-one"
    raw = s3_api.raw.get_object(Bucket=store.bucket.bucket, Key=ID)["Body"].read()
    assert raw == b"%PDF-one"


def test_the_s3_api_refuses_a_second_conditional_write(s3_api: S3Double, store: S3DocumentStore) -> None:
    # What write-once rests on: the service itself refuses to replace an object (412), so two
    # workers racing for one id cannot both win. moto honours If-None-Match as S3 and MinIO do.
    store.put(ID, b"%PDF-one")
    with pytest.raises(Exception, match="PreconditionFailed"):
        s3_api.raw.put_object(Bucket=store.bucket.bucket, Key=ID, Body=b"%PDF-two", IfNoneMatch="*")


def test_an_object_changed_behind_the_stores_back_is_refused(s3_api: S3Double, store: S3DocumentStore) -> None:
    stored = store.put(ID, b"%PDF-one")
    # Overwritten with its metadata kept (as a careless copy or an attacker would): the bytes decide.
    s3_api.raw.put_object(Bucket=store.bucket.bucket, Key=ID, Body=b"%PDF-evil", Metadata={"sha256": stored.sha256})
    with pytest.raises(DocumentTampered, match=r"ORD-1/confirmation-v1\.pdf has SHA-256 .*: refused"):
        store.get(ID)
    with pytest.raises(DocumentTampered):
        store.get(ID, expected_sha256=stored.sha256)
    with pytest.raises(DocumentTampered):
        store.put(ID, b"%PDF-one")  # nor is it vouched for again

    # Overwritten with a hash that matches the new bytes: only the order's hash can tell.
    evil = hashlib.sha256(b"%PDF-evil").hexdigest()
    s3_api.raw.put_object(Bucket=store.bucket.bucket, Key=ID, Body=b"%PDF-evil", Metadata={"sha256": evil})
    assert store.get(ID) == b"%PDF-evil"
    with pytest.raises(DocumentTampered, match=stored.sha256):
        store.get(ID, expected_sha256=stored.sha256)


def test_an_object_without_a_hash_is_neither_served_nor_adopted(s3_api: S3Double, store: S3DocumentStore) -> None:
    s3_api.raw.put_object(Bucket=store.bucket.bucket, Key=ID, Body=b"%PDF-stray")
    with pytest.raises(DocumentTampered, match="no SHA-256"):
        store.get(ID)
    with pytest.raises(DocumentConflict, match=r"ORD-1/confirmation-v1\.pdf .* never replaced"):
        store.put(ID, b"%PDF-one")
    assert s3_api.raw.get_object(Bucket=store.bucket.bucket, Key=ID)["Body"].read() == b"%PDF-stray"


def test_a_hash_other_than_the_order_records_is_refused(store: S3DocumentStore) -> None:
    store.put(ID, b"%PDF-one")
    with pytest.raises(DocumentTampered, match="0000"):
        store.get(ID, expected_sha256="0" * 64)


def test_unknown_and_malformed_ids_are_named(store: S3DocumentStore) -> None:
    with pytest.raises(DocumentMissing, match=r"ORD-9/confirmation-v1\.pdf is not in the document store at s3://"):
        store.get("ORD-9/confirmation-v1.pdf")
    for bad in ("../etc/passwd", "ORD-1/../../x.pdf", "/abs/x.pdf", "ORD-1/.hidden", "ORD-1"):
        with pytest.raises(ValueError, match="not a document id"):
            store.get(bad)
    with pytest.raises(ValueError, match="not a document id"):
        store.put("../x.pdf", b"x")


def test_ids_stay_generic_and_under_the_prefix(s3_api: S3Double) -> None:
    name = s3_api.new_bucket()
    store = S3DocumentStore(s3_api.bucket(name, prefix="prod/orders"))
    for document_id in ("ORD-1/receipt-3.pdf", "ORD-1/evidence-1.pdf", ID):
        store.put(document_id, document_id.encode())
        assert store.get(document_id) == document_id.encode()
    listed = sorted(o["Key"] for o in s3_api.raw.list_objects_v2(Bucket=name)["Contents"])
    names = ("confirmation-v1.pdf", "evidence-1.pdf", "receipt-3.pdf")
    assert listed == [f"prod/orders/ORD-1/{name}" for name in names]
    assert store.location(ID) == f"s3://{name}/prod/orders/{ID}"


def test_a_missing_bucket_is_named(s3_api: S3Double) -> None:
    store = S3DocumentStore(s3_api.bucket("orders-docs-nowhere"))
    with pytest.raises(DocumentUnavailable, match="bucket orders-docs-nowhere does not exist") as missing:
        store.get(ID)
    with pytest.raises(DocumentUnavailable, match="bucket orders-docs-nowhere does not exist"):
        store.put(ID, b"%PDF-one")
    assert SECRET_ACCESS_KEY not in str(missing.value)


def test_an_unreachable_endpoint_is_named(s3_api: S3Double) -> None:
    bucket = replace(s3_api.bucket(s3_api.new_bucket()), endpoint_url="http://127.0.0.1:9")
    store = S3DocumentStore(bucket)
    with pytest.raises(DocumentUnavailable, match=r"cannot reach the S3 endpoint http://127\.0\.0\.1:9") as down:
        store.get(ID)
    assert SECRET_ACCESS_KEY not in str(down.value)
    # A reader that says "not there just now, try later" (the portal) needs nothing more.
    assert isinstance(down.value, DocumentMissing) and isinstance(down.value, DocumentError)


def test_the_settings_name_the_bucket() -> None:
    env = {
        "ORDERS_DOCUMENTS_BUCKET": "orders-docs",
        "ORDERS_DOCUMENTS_PREFIX": "/prod/",
        "AWS_ENDPOINT_URL": "http://minio:9000/",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    }
    bucket = Settings.from_env(env).documents_bucket
    assert bucket is not None
    assert (bucket.bucket, bucket.prefix, bucket.endpoint_url, bucket.region) == (
        "orders-docs",
        "prod/",
        "http://minio:9000",
        REGION,
    )
    assert (bucket.access_key_id, bucket.secret_access_key) == (ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    # The S3-only variables win over the general ones, as in boto3.
    both = {**env, "AWS_ENDPOINT_URL_S3": "https://s3.example.com", "AWS_REGION": "eu-west-1"}
    bucket = Settings.from_env(both).documents_bucket
    assert bucket is not None and (bucket.endpoint_url, bucket.region) == ("https://s3.example.com", "eu-west-1")
    # Secrets stay out of every repr, so out of logs and tracebacks.
    assert SECRET_ACCESS_KEY not in repr(Settings.from_env(env))
    assert Settings.from_env({}).documents_bucket is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ORDERS_DOCUMENTS_BUCKET": "Orders_Docs"}, "ORDERS_DOCUMENTS_BUCKET='Orders_Docs' is not an S3 bucket name"),
        ({"ORDERS_DOCUMENTS_BUCKET": "ab"}, "is not an S3 bucket name"),
        ({"ORDERS_DOCUMENTS_PREFIX": "prod/"}, "ORDERS_DOCUMENTS_PREFIX needs ORDERS_DOCUMENTS_BUCKET"),
        (
            {"ORDERS_DOCUMENTS_BUCKET": "orders-docs", "ORDERS_DOCUMENTS_PREFIX": "a/../b"},
            "ORDERS_DOCUMENTS_PREFIX='a/../b' is not a key prefix",
        ),
        (
            {"ORDERS_DOCUMENTS_BUCKET": "orders-docs", "ORDERS_DOCUMENTS_DIR": "/srv/pdf"},
            "ORDERS_DOCUMENTS_DIR and ORDERS_DOCUMENTS_BUCKET are both set",
        ),
        (
            {"ORDERS_DOCUMENTS_BUCKET": "orders-docs", "AWS_ENDPOINT_URL_S3": "minio:9000"},
            "AWS_ENDPOINT_URL_S3='minio:9000' is not an http",
        ),
        (
            {"ORDERS_DOCUMENTS_BUCKET": "orders-docs", "AWS_ENDPOINT_URL_S3": "http://user:pw@minio:9000"},
            "AWS_ENDPOINT_URL_S3 must not hold credentials",
        ),
        (
            {"ORDERS_DOCUMENTS_BUCKET": "orders-docs", "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID},
            "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not",
        ),
        (
            {"ORDERS_DOCUMENTS_BUCKET": "orders-docs", "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY},
            "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not",
        ),
    ],
)
def test_bad_bucket_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as bad:
        Settings.from_env(env)
    assert "pw@" not in str(bad.value) and SECRET_ACCESS_KEY not in str(bad.value)


def test_the_configured_store_is_opened_and_boto3_only_for_a_bucket(s3_api: S3Double) -> None:
    name = s3_api.new_bucket()
    opened = open_document_store(Settings.from_env(s3_api.env(name)))
    assert isinstance(opened, S3DocumentStore) and opened.bucket.bucket == name
    assert opened.where == f"s3://{name}/ at {s3_api.endpoint_url}"
    # The portal opens the store for each PDF it serves: one client per configuration, not per request.
    assert open_document_store(Settings.from_env(s3_api.env(name))) is opened
    assert isinstance(open_document_store(Settings()), LocalDocumentStore)


def test_a_worker_without_a_bucket_never_loads_boto3() -> None:
    import subprocess

    code = (
        "import sys; from activities.config import Settings; from activities.document_store import open_document_store;"
        " import worker; open_document_store(Settings.from_env({}));"
        " print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'activities.s3_documents')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_put_is_conditional_and_carries_s3s_own_sha256(store: S3DocumentStore) -> None:
    # If-None-Match makes the service refuse a second write; the checksum makes it check the
    # upload (and object-lock buckets require one on every write). Seen on the wire.
    sent: list[Any] = []
    store._client.meta.events.register("before-send.s3.PutObject", lambda request, **_: sent.append(request))
    store.put(ID, b"%PDF-one")
    [request] = sent
    assert request.headers["If-None-Match"] == b"*"
    assert (
        request.headers["x-amz-checksum-sha256"].decode()
        == base64.b64encode(hashlib.sha256(b"%PDF-one").digest()).decode()
    )
    assert request.headers["x-amz-meta-sha256"].decode() == hashlib.sha256(b"%PDF-one").hexdigest()


def test_the_bucket_config_is_hashable_for_the_client_cache() -> None:
    bucket = DocumentBucket("orders-docs", secret_access_key=SECRET_ACCESS_KEY)
    assert hash(bucket) == hash(DocumentBucket("orders-docs", secret_access_key=SECRET_ACCESS_KEY))
    assert SECRET_ACCESS_KEY not in repr(bucket)


def test_of_two_racing_writers_one_wins_and_both_get_its_document(s3_api: S3Double, store: S3DocumentStore) -> None:
    # Two workers rendering one id at once (other bytes each): the service keeps the first
    # write, and the other writer gets that document back, not its own.
    from concurrent.futures import ThreadPoolExecutor

    ids = [f"ORD-{n}/confirmation-v1.pdf" for n in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        ones = list(pool.map(lambda i: store.put(i, b"%PDF-one " + i.encode()), ids))
        twos = list(pool.map(lambda i: store.put(i, b"%PDF-two " + i.encode()), ids))
    assert ones == twos
    for document_id, stored in zip(ids, ones, strict=True):
        assert store.get(document_id, expected_sha256=stored.sha256).startswith(b"%PDF-one")


def test_refused_credentials_and_denied_access_are_named_without_the_secret(store: S3DocumentStore) -> None:
    # The answers S3 gives (moto accepts any key, so they are built here as botocore builds them).
    from botocore.exceptions import ClientError

    def answer(code: str, status: int) -> str:
        error = ClientError(
            {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject"
        )
        failure = store._failure(error, f"read {ID}")
        assert isinstance(failure, DocumentUnavailable)
        assert SECRET_ACCESS_KEY not in str(failure) and ACCESS_KEY_ID not in str(failure)
        return str(failure)

    for code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"):
        assert f"refused the credentials ({code}); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in answer(
            code, 403
        )
    assert "access to the bucket" in answer("AccessDenied", 403) and "s3:ListBucket" in answer("AccessDenied", 403)
    assert "answered 500 InternalError" in answer("InternalError", 500)


def test_no_credentials_at_all_is_named(s3_api: S3Double, tmp_path: Path) -> None:
    # A process with no key anywhere (no variables, no profile, no instance role): boto3's own chain finds none.
    import subprocess

    code = (
        "from activities.config import DocumentBucket; from activities.s3_documents import S3DocumentStore;"
        f" store = S3DocumentStore(DocumentBucket('orders-docs-nokey', endpoint_url={s3_api.endpoint_url!r}));"
        " store.get('ORD-1/confirmation-v1.pdf')"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode != 0
    assert (
        "DocumentUnavailable: cannot read ORD-1/confirmation-v1.pdf: no S3 credentials; set AWS_ACCESS_KEY_ID"
        in out.stderr
    )


def test_erasing_an_order_removes_every_version_of_its_documents_and_only_its(s3_api: S3Double) -> None:
    name = s3_api.new_bucket()
    s3_api.raw.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    store = S3DocumentStore(s3_api.bucket(name, prefix="docs/"))
    store.put("ORD-1/confirmation-v1.pdf", b"%PDF-one")
    store.put("ORD-1/receipt-1.pdf", b"%PDF-receipt")
    store.put("ORD-12/confirmation-v1.pdf", b"%PDF-other")  # a prefix of ORD-1's is not ORD-1's
    # A version replaced behind the store's back, and a delete marker: erasure leaves neither.
    s3_api.raw.put_object(Bucket=name, Key="docs/ORD-1/confirmation-v1.pdf", Body=b"%PDF-replaced")
    s3_api.raw.delete_object(Bucket=name, Key="docs/ORD-1/receipt-1.pdf")

    assert store.erase_order("ORD-1") == 2
    left = s3_api.raw.list_object_versions(Bucket=name, Prefix="docs/ORD-1/")
    assert left.get("Versions", []) == [] and left.get("DeleteMarkers", []) == []
    assert store.get("ORD-12/confirmation-v1.pdf") == b"%PDF-other"
    assert store.erase_order("ORD-1") == 0, "a second erasure finds nothing"


def test_erasing_an_order_from_a_directory_removes_its_folder_and_only_its(tmp_path: Path) -> None:
    store = LocalDocumentStore(tmp_path)
    store.put("ORD-1/confirmation-v1.pdf", b"%PDF-one")
    store.put("ORD-1/receipt-1.pdf", b"%PDF-receipt")
    store.put("ORD-12/confirmation-v1.pdf", b"%PDF-other")
    assert store.erase_order("ORD-1") == 2
    assert not (tmp_path / "ORD-1").exists() and store.get("ORD-12/confirmation-v1.pdf") == b"%PDF-other"
    assert store.erase_order("ORD-1") == 0
    with pytest.raises(ValueError, match="not an order id"):
        store.erase_order("../etc")
