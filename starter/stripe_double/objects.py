"""What every endpoint uses: ids, copies of stored objects, form fields, lookups and Stripe's lists."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from starter.stripe_double.errors import invalid
from starter.stripe_double.recording import RecordedRequest

API_VERSION = "2026-10-28.endive"
"""The pinned API version whose shapes the double's objects have."""

Objects = dict[str, dict[str, Any]]
"""Stored objects by id, in creation order."""


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def copied(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy, as a JSON answer is: the stored object does not change with it."""
    copy: dict[str, Any] = json.loads(json.dumps(obj))
    return copy


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy without the double's own fields (those starting with ``_``)."""
    return {k: v for k, v in copied(obj).items() if not k.startswith("_")}


def metadata(form: dict[str, str]) -> dict[str, str]:
    return {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[") and k.endswith("]")}


def required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise invalid(f"Missing required param: {name}.", code="parameter_missing", param=name)
    return value


def found(objects: Objects, object_id: str, kind: str) -> dict[str, Any]:
    obj = objects.get(object_id)
    if obj is None:
        raise invalid(f"No such {kind}: '{object_id}'", code="resource_missing", param="id", status=404)
    return obj


def list_page(objects: Objects, request: RecordedRequest, filters: tuple[str, ...]) -> dict[str, Any]:
    """A Stripe list: newest first, filtered by equality, paged by ``limit`` and ``starting_after``."""
    query = request.query
    unknown = sorted(k for k in query if k not in (*filters, "limit", "starting_after"))
    if unknown:
        raise invalid(f"Received unknown parameter: {unknown[0]}", param=unknown[0])
    # Insertion order is creation order; reversed is newest first, as Stripe lists.
    data = [o for o in reversed(objects.values()) if all(o.get(k) == query[k] for k in filters if k in query)]
    if "starting_after" in query:
        ids = [o["id"] for o in data]
        if query["starting_after"] not in ids:
            raise invalid(f"No such object: '{query['starting_after']}'", param="starting_after")
        data = data[ids.index(query["starting_after"]) + 1 :]
    limit = int(query.get("limit", "10"))
    return {
        "object": "list",
        "data": [copied(o) for o in data[:limit]],
        "has_more": len(data) > limit,
        "url": request.path,
    }


_SEARCH_CLAUSE = re.compile(
    r"(?:metadata\[['\"](?P<key>[^'\"]+)['\"]\]|(?P<field>customer|status|email)):['\"](?P<value>[^'\"]*)['\"]"
)


def search_result(objects: Objects, query: dict[str, str], url: str) -> dict[str, Any]:
    """Stripe's search query language, the part the worker may use: ``metadata['key']:'value'``,
    ``customer:'cus_...'``, ``status:'...'`` and ``email:'...'`` joined by ``AND``; newest first."""
    clauses = [c.strip() for c in required(query, "query").split(" AND ")]
    wanted: list[tuple[tuple[str, ...], str]] = []
    for clause in clauses:
        match = _SEARCH_CLAUSE.fullmatch(clause)
        if match is None:
            raise invalid(f"Invalid search query: {clause}", param="query")
        field_path = ("metadata", match["key"]) if match["key"] else (match["field"],)
        wanted.append((field_path, match["value"]))
    data = [copied(o) for o in reversed(objects.values()) if all(_value_at(o, f) == v for f, v in wanted)]
    limit = int(query.get("limit", "10"))
    return {
        "object": "search_result",
        "data": data[:limit],
        "has_more": len(data) > limit,
        "next_page": None,
        "url": url,
    }


def _value_at(obj: dict[str, Any], field_path: tuple[str, ...]) -> Any:
    value: Any = obj
    for name in field_path:
        value = value.get(name) if isinstance(value, dict) else None
    return value
