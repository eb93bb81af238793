"""What every document store shares (activities/document_store.py): the document's id, what a
store answers for a stored document, and the errors it raises.

A module of its own so that a store kept elsewhere (activities/s3_documents.py) uses the
same words without importing the module that opens it: ``open_document_store`` imports
that store only when one is configured.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# ``<order id>/<file name>``: the order id's own pattern, then a plain file name.
_ORDER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DOCUMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}/[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class DocumentError(Exception):
    """A document could not be stored or read; the message names it."""


class DocumentMissing(DocumentError):
    """No document has this id."""


class DocumentUnavailable(DocumentMissing):
    """The store cannot be read or written just now (its service unreachable, the credentials
    refused, the bucket missing): the document may well be there. A ``DocumentMissing``, so
    that a reader which says "not there just now, try later" (the portal) says so for this too."""


class DocumentConflict(DocumentError):
    """A file under this id holds other bytes and no hash vouches for them."""


class DocumentTampered(DocumentError):
    """The stored bytes no longer have the SHA-256 recorded for them."""


@dataclass(frozen=True)
class StoredDocument:
    id: str
    size: int
    sha256: str


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checked_id(document_id: str) -> str:
    # No "..", no absolute paths, no hidden files: an id never leaves the store's directory.
    if not _DOCUMENT_ID.match(document_id) or ".." in document_id:
        raise ValueError(f"{document_id!r} is not a document id such as ORD-1/confirmation-v1.pdf")
    return document_id


class DocumentsNotErased(DocumentError):
    """The store refused to delete (``orders erase``): the credentials may not. Not worth retrying."""


def checked_order_id(order_id: str) -> str:
    """An order id as the first part of a document id: its documents' folder or prefix."""
    if not _ORDER_ID.match(order_id):
        raise ValueError(f"{order_id!r} is not an order id")
    return order_id


def verified(document_id: str, data: bytes, recorded: str, expected: str | None) -> StoredDocument:
    """The stored document, only while ``data`` has the hash recorded with it and, when the
    caller gives one, the hash the order recorded."""
    actual = sha256_hex(data)
    for wanted in (recorded, expected):
        if wanted is not None and actual != wanted:
            raise DocumentTampered(
                f"document {document_id} has SHA-256 {actual}, not the {wanted} recorded for it: refused"
            )
    return StoredDocument(document_id, len(data), actual)
