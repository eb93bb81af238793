"""Snapshots of every message kind: subject, text and HTML, one file per kind.

A change to a template, a filter or the sample data shows up here as a diff.
If the change is intended, rewrite the snapshots and review them in git:

    UPDATE_SNAPSHOTS=1 pytest tests/activities/test_email_snapshots.py
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import pytest

from activities.config import Settings
from activities.email import render
from tests.activities.email_samples import SAMPLE_CONTEXTS, SAMPLE_VARIANTS
from workflows.models import MessageKind

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS", "").strip().lower() in {"1", "true", "yes"}

# Fixed, so that the snapshots depend on the templates and samples only.
SETTINGS = Settings(
    outbox_dir=Path("outbox"),
    from_email="orders@example.com",
    from_name="Example IT Services",
    company_name="Example IT Services",
    ops_email="ops@example.com",
    support_email="support@example.com",
    reply_to=None,
    web_base_url="https://orders.example.com",
)

MARKER = "=" * 24


# Each kind's sample, then the named variants (``payment_received.overpaid``).
CASES: dict[str, tuple[MessageKind, dict[str, Any]]] = {
    **{kind.value: (kind, SAMPLE_CONTEXTS[kind]) for kind in MessageKind},
    **SAMPLE_VARIANTS,
}


def snapshot_text(kind: MessageKind, context: dict[str, Any] | None = None) -> str:
    rendered = render(kind, SAMPLE_CONTEXTS[kind] if context is None else context, SETTINGS)
    return (
        f"{MARKER} subject {MARKER}\n{rendered.subject}\n"
        f"{MARKER} text {MARKER}\n{rendered.text}"
        f"{MARKER} html {MARKER}\n{rendered.html}"
    )


@pytest.mark.parametrize("case", list(CASES))
def test_snapshot(case: str) -> None:
    kind, context = CASES[case]
    path = SNAPSHOTS / f"{case}.txt"
    actual = snapshot_text(kind, context)
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != actual:
            path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no snapshot for {case}: run UPDATE_SNAPSHOTS=1 pytest {Path(__file__).name}")
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"snapshots/{path.name}",
                tofile="rendered now",
            )
        )
        pytest.fail(
            f"{case} renders differently from its snapshot. If intended: "
            f"UPDATE_SNAPSHOTS=1 pytest {Path(__file__).name}\n{diff}"
        )


def test_no_stale_snapshots() -> None:
    stale = sorted(p.name for p in SNAPSHOTS.glob("*.txt") if p.stem not in CASES)
    if stale and UPDATE:
        for name in stale:
            (SNAPSHOTS / name).unlink()
        return
    assert not stale, f"snapshots of kinds that no longer exist: {stale} (UPDATE_SNAPSHOTS=1 removes them)"


def test_the_confirmation_email_lists_the_payment_schedule() -> None:
    kind, context = CASES["confirmation_issued.payment_schedule"]
    rendered = render(kind, context, SETTINGS)
    for line in (
        "- Payment by bank transfer or invoice, in instalments, each due within 14 days of the time it falls due:",
        "  - Deposit, on approval: EUR 1,440.00 (30%)",
        "  - Design, when milestone Design approved is completed: EUR 1,920.00 (40%)",
        "  - Handover, 30 days after approval: EUR 1,440.00 (30%)",
    ):
        assert line in rendered.text, rendered.text
    assert "when milestone Design approved is completed" in rendered.html
    plain = render(kind, SAMPLE_CONTEXTS[kind], SETTINGS)
    assert "instalment" not in plain.text.lower() and "instalment" not in plain.html.lower()
