"""The order's documents in an S3 bucket: AWS S3, MinIO or any S3-compatible service.

The same guarantees as the local directory (activities/document_store.py):

- **Written once.** Each put is a conditional write (``If-None-Match: *``): the service
  refuses to replace an object (412), so of two attempts racing for one id only the first
  is stored, and a retry that rendered other bytes gets the stored document back.
- **The hash travels with the object**, in its metadata (``x-amz-meta-sha256``, which
  every S3-compatible service keeps), and as S3's own SHA-256 checksum, which the service
  checks the upload against and an object-lock bucket requires.
- **Checked on every read**, against that hash and against the one the caller has from the
  order: an object changed behind the store's back is refused, never served.

boto3 is imported here only, and this module only when a bucket is configured, so a worker
without one does not load it. Messages name the bucket, the endpoint and the variables to
check, never a credential.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    FlexibleChecksumError,
    NoCredentialsError,
    PartialCredentialsError,
)

from activities.config import DocumentBucket
from activities.document_common import (
    DocumentConflict,
    DocumentError,
    DocumentMissing,
    DocumentsNotErased,
    DocumentTampered,
    DocumentUnavailable,
    StoredDocument,
    checked_id,
    checked_order_id,
    sha256_hex,
    verified,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SHA256_METADATA = "sha256"  # x-amz-meta-sha256

# The email activity stores its PDF within its 30 s start-to-close timeout: a slow or
# unreachable service fails an attempt in time for the email to go (and operations to hear).
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
MAX_ATTEMPTS = 3  # boto3's standard retry mode: throttling and 5xx answers are retried
# A conditional write that meets another write still in progress (AWS answers 409) is tried again.
PUT_TRIES = 3

_REFUSED_CREDENTIALS = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidClientTokenId"}
)


class S3DocumentStore:
    """Documents under ``s3://<bucket>/<prefix><order id>/<file name>``."""

    def __init__(self, bucket: DocumentBucket, client: S3Client | None = None) -> None:
        self.bucket = bucket
        self._client = client or _client(bucket)

    @property
    def where(self) -> str:
        at = f" at {self.bucket.endpoint_url}" if self.bucket.endpoint_url else ""
        return f"s3://{self.bucket.bucket}/{self.bucket.prefix}{at}"

    def key(self, document_id: str) -> str:
        return self.bucket.prefix + checked_id(document_id)

    def location(self, document_id: str) -> str:
        return f"s3://{self.bucket.bucket}/{self.key(document_id)}"

    def put(self, document_id: str, data: bytes) -> StoredDocument:
        """Store ``data`` under ``document_id`` unless a document is there already.

        Write-once, as in the directory: the first bytes stored under an id are that
        document for good, and a later attempt gets them back (its own hash decides). An
        object that no hash vouches for was not stored here: a conflict, never replaced.
        """
        key = self.key(document_id)
        ours = StoredDocument(document_id, len(data), sha256_hex(data))
        for _ in range(PUT_TRIES):
            try:
                self._client.put_object(
                    Bucket=self.bucket.bucket,
                    Key=key,
                    Body=data,
                    IfNoneMatch="*",
                    ChecksumSHA256=base64.b64encode(hashlib.sha256(data).digest()).decode(),
                    Metadata={SHA256_METADATA: ours.sha256},
                    ContentType=mimetypes.guess_type(document_id)[0] or "application/octet-stream",
                )
                return ours
            except ClientError as error:
                if _status(error) not in (409, 412):
                    raise self._failure(error, f"store {document_id}") from None
            except BotoCoreError as error:
                raise self._failure(error, f"store {document_id}") from None
            # Stored first by another attempt (412), or being stored right now (409).
            try:
                stored, recorded = self._read(document_id)
            except DocumentUnavailable:
                raise
            except DocumentMissing:
                continue  # the other write did not complete: ours may still be the first
            if recorded is None:
                raise DocumentConflict(
                    f"document {document_id} is already stored in {self.where} with other contents and no "
                    "hash of its own; it is never replaced"
                )
            return verified(document_id, stored, recorded, None)
        raise DocumentUnavailable(
            f"document {document_id} could not be stored in {self.where}: other writes to it kept conflicting"
        )

    def get(self, document_id: str, expected_sha256: str | None = None) -> bytes:
        """The document's bytes, only while they have the hash stored with them and, when the
        caller gives one, the hash the order recorded."""
        data, recorded = self._read(document_id)
        if recorded is None:
            raise DocumentTampered(
                f"document {document_id} in {self.where} has no SHA-256 stored with it (it was not stored "
                "by the orders worker): refused"
            )
        verified(document_id, data, recorded, expected_sha256)
        return data

    def erase_order(self, order_id: str) -> int:
        """Every version of every object under the order's prefix, and their delete markers: a
        versioned bucket keeps old versions, which an erasure must not leave behind."""
        prefix = self.bucket.prefix + checked_order_id(order_id) + "/"
        documents: set[str] = set()
        try:
            pages = self._client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket.bucket, Prefix=prefix
            )
            for page in pages:
                found = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
                documents.update(v["Key"] for v in page.get("Versions", []) if not v["Key"].endswith(".sha256"))
                if found:
                    self._client.delete_objects(
                        Bucket=self.bucket.bucket,
                        Delete={"Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in found]},
                    )
        except ClientError as error:
            if _code(error) == "AccessDenied" or _status(error) == 403:
                raise DocumentsNotErased(
                    f"{len(documents) or 'the'} documents of {order_id} in {self.where} were NOT deleted: the "
                    "worker's key may not delete (s3:ListBucketVersions, s3:DeleteObject, s3:DeleteObjectVersion); "
                    f"delete every version under {prefix} with an administrator's key (docs/privacy.md)"
                ) from None
            raise self._failure(error, f"erasing the documents of {order_id}") from None
        except BotoCoreError as error:
            raise self._failure(error, f"erasing the documents of {order_id}") from None
        return len(documents)

    def _read(self, document_id: str) -> tuple[bytes, str | None]:
        """The object's bytes and the hash in its metadata (None: it has none)."""
        key = self.key(document_id)
        try:
            # ChecksumMode: boto3 checks the body against S3's own checksum where the service keeps one.
            response = self._client.get_object(Bucket=self.bucket.bucket, Key=key, ChecksumMode="ENABLED")
            data = response["Body"].read()
        except ClientError as error:
            if _code(error) in ("NoSuchKey", "NotFound") or (_status(error) == 404 and _code(error) != "NoSuchBucket"):
                raise DocumentMissing(f"document {document_id} is not in the document store at {self.where}") from None
            raise self._failure(error, f"read {document_id}") from None
        except FlexibleChecksumError:
            raise DocumentTampered(
                f"document {document_id} in {self.where} does not match the checksum S3 stored with it: refused"
            ) from None
        except BotoCoreError as error:
            raise self._failure(error, f"read {document_id}") from None
        checksum = response.get("ChecksumSHA256")
        # A whole-object checksum (a multipart one ends in "-N" and is not the file's hash).
        if checksum and "-" not in checksum:
            actual = base64.b64encode(hashlib.sha256(data).digest()).decode()
            if checksum != actual:
                raise DocumentTampered(
                    f"document {document_id} in {self.where} does not match the checksum S3 stored with it: refused"
                )
        return data, (response.get("Metadata") or {}).get(SHA256_METADATA)

    def _failure(self, error: Exception, doing: str) -> DocumentError:
        """``error`` in words that say what to check; the credentials are never named, only their variables."""
        name = self.bucket.bucket
        endpoint = self.bucket.endpoint_url or "AWS S3"
        if isinstance(error, NoCredentialsError | PartialCredentialsError):
            return DocumentUnavailable(
                f"cannot {doing}: no S3 credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or give the worker a role)"
            )
        if isinstance(error, ConnectionError):
            return DocumentUnavailable(
                f"cannot {doing}: cannot reach the S3 endpoint {endpoint} ({type(error).__name__}); "
                "check AWS_ENDPOINT_URL_S3 and that the service is up"
            )
        if not isinstance(error, ClientError):
            return DocumentUnavailable(f"cannot {doing} in {self.where}: {type(error).__name__}")
        code, status = _code(error), _status(error)
        if code == "NoSuchBucket":
            return DocumentUnavailable(
                f"cannot {doing}: the bucket {name} does not exist at {endpoint}; create it (the compose "
                "stack's minio-setup does) or set ORDERS_DOCUMENTS_BUCKET to yours"
            )
        if code in _REFUSED_CREDENTIALS:
            return DocumentUnavailable(
                f"cannot {doing}: {endpoint} refused the credentials ({code}); check AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY"
            )
        if code == "AccessDenied" or status == 403:
            return DocumentUnavailable(
                f"cannot {doing}: access to the bucket {name} at {endpoint} is denied ({code}); the credentials "
                "need s3:GetObject, s3:PutObject and s3:ListBucket on it"
            )
        return DocumentUnavailable(f"cannot {doing} in {self.where}: the service answered {status} {code}")


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _client(bucket: DocumentBucket) -> Any:
    """A client of its own (boto3's default session is not shared between threads)."""
    session = boto3.session.Session(
        aws_access_key_id=bucket.access_key_id,
        aws_secret_access_key=bucket.secret_access_key,
        aws_session_token=bucket.session_token,
        region_name=bucket.region,
    )
    config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        # Every S3-compatible service answers path-style addresses; virtual hosts need DNS set up for them.
        s3={"addressing_style": "path"} if bucket.endpoint_url else None,
    )
    return session.client("s3", endpoint_url=bucket.endpoint_url, config=config)
