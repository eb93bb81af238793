"""Where the order's PDFs are kept (confirmations, receipts, certificates), written once each.

The order's history keeps only a document's id, size and SHA-256
(``workflows.models.DocumentRef``); the bytes live here, outside it. A
document's id comes from the order id and the confirmation version, so a
retried email activity finds the file an earlier attempt stored, and nothing
ever replaces it. Every read checks the bytes against the hash stored beside
them and against the one the caller has from the order: a changed file is
refused, never served.

This module does not render (activities/documents.py does), so the portal and
the ``orders document`` command read documents without loading the PDF library.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

# Re-exported: the ids, errors and stored-document record every store shares live in
# activities/document_common.py, which the S3 store imports without importing this module.
from activities.document_common import DocumentConflict as DocumentConflict
from activities.document_common import DocumentError as DocumentError
from activities.document_common import DocumentMissing as DocumentMissing
from activities.document_common import DocumentTampered as DocumentTampered
from activities.document_common import DocumentUnavailable as DocumentUnavailable
from activities.document_common import StoredDocument as StoredDocument
from activities.document_common import checked_id as checked_id
from activities.document_common import checked_order_id, verified
from activities.document_common import sha256_hex as sha256_hex

if TYPE_CHECKING:
    from activities.config import DocumentBucket, Settings

_HASH_SUFFIX = ".sha256"


def confirmation_file_name(version: int) -> str:
    return f"confirmation-v{version}.pdf"


def confirmation_document_id(order_id: str, version: int) -> str:
    """``ORD-1/confirmation-v2.pdf``: the same order and version always name the same file."""
    return f"{order_id}/{confirmation_file_name(version)}"


class DocumentStore(Protocol):
    """What the worker, the portal and ``orders document`` need of a store; blocking calls."""

    @property
    def where(self) -> str:
        """Where the documents are, for messages (a directory, a bucket)."""
        ...

    def location(self, document_id: str) -> str:
        """Where this document is, for people (a path, an ``s3://`` address)."""
        ...

    def put(self, document_id: str, data: bytes) -> StoredDocument:
        """Store ``data`` unless a document is there already (write-once); the stored document."""
        ...

    def get(self, document_id: str, expected_sha256: str | None = None) -> bytes:
        """The bytes, only while they have the hash stored with them and, given one, the order's.
        Raises ``DocumentMissing`` (``DocumentUnavailable`` when the store cannot be reached)
        or ``DocumentTampered``."""
        ...

    def erase_order(self, order_id: str) -> int:
        """Remove every document of the order for good (``orders erase``); how many there were."""
        ...


def open_document_store(settings: Settings) -> DocumentStore:
    """The store the settings name: the bucket (``ORDERS_DOCUMENTS_BUCKET``), else the
    documents directory (``ORDERS_DOCUMENTS_DIR``)."""
    if settings.documents_bucket is not None:
        return _bucket_store(settings.documents_bucket)
    return LocalDocumentStore(settings.documents_path)


@lru_cache(maxsize=8)
def _bucket_store(bucket: DocumentBucket) -> DocumentStore:
    """One S3 client per configuration (the portal opens the store for each PDF it serves),
    imported only here: a worker without a bucket never loads boto3, which costs memory."""
    from activities.s3_documents import S3DocumentStore

    return S3DocumentStore(bucket)


class LocalDocumentStore:
    """A directory: ``<dir>/<order id>/<name>``, with the SHA-256 beside each file
    (``<name>.sha256``), written just after it."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    @property
    def where(self) -> str:
        return str(self.directory)

    def path(self, document_id: str) -> Path:
        return self.directory / checked_id(document_id)

    def location(self, document_id: str) -> str:
        return str(self.path(document_id))

    def put(self, document_id: str, data: bytes) -> StoredDocument:
        """Store ``data`` under ``document_id`` unless a document is there already.

        Write-once: the first bytes stored under an id are that document for
        good. A retry that renders the same bytes finds them; one that renders
        other bytes (a worker upgraded between two attempts) gets the stored
        document back, which the customer may already have been sent. A file
        that no hash vouches for and that differs from ``data`` is a conflict.
        """
        path = self.path(document_id)
        ours = StoredDocument(document_id, len(data), sha256_hex(data))
        recorded = path.with_name(path.name + _HASH_SUFFIX)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_new(path, data, replace=False)  # False: another attempt may have linked it first
        stored = path.read_bytes()
        if recorded.exists():
            # The document is complete: its own hash decides, whatever we rendered this time.
            return self._check(document_id, stored, recorded.read_text().strip(), None)
        if sha256_hex(stored) != ours.sha256:
            raise DocumentConflict(
                f"document {document_id} is already stored with other contents and no hash of its own; "
                "it is never replaced"
            )
        # The hash is written after the file, so it always describes the one file (a crash
        # in between leaves the file without it, and the next attempt finishes the job).
        _write_new(recorded, ours.sha256.encode(), replace=True)
        return ours

    def get(self, document_id: str, expected_sha256: str | None = None) -> bytes:
        """The document's bytes, only while they have the hash stored beside them and,
        when the caller gives one, the hash the order recorded."""
        path = self.path(document_id)
        try:
            data = path.read_bytes()
            recorded = path.with_name(path.name + _HASH_SUFFIX).read_text().strip()
        except FileNotFoundError:
            raise DocumentMissing(f"document {document_id} is not in the document store at {self.directory}") from None
        self._check(document_id, data, recorded, expected_sha256)
        return data

    @staticmethod
    def _check(document_id: str, data: bytes, recorded: str, expected: str | None) -> StoredDocument:
        return verified(document_id, data, recorded, expected)

    def erase_order(self, order_id: str) -> int:
        folder = self.directory / checked_order_id(order_id)
        if not folder.is_dir():
            return 0
        files = [p for p in folder.rglob("*") if p.is_file()]
        documents = sum(1 for p in files if not p.name.endswith(_HASH_SUFFIX) and not p.name.startswith("."))
        shutil.rmtree(folder)
        return documents


def _write_new(path: Path, data: bytes, *, replace: bool) -> None:
    """Write through a temporary file, so a reader never sees half a document. Without
    ``replace``, a file already there is kept (the link fails and nothing changes)."""
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temp_name, path)
            return
        with contextlib.suppress(FileExistsError):  # another attempt linked it first: that one stands
            os.link(temp_name, path)
    finally:
        Path(temp_name).unlink(missing_ok=True)
