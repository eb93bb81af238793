"""Every committed history must replay against today's workflow code.

A failure here means a change would break orders already running: guard the
change with ``workflow.patched`` rather than re-recording the history.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

import worker
from workflows.converter import data_converter
from workflows.erasure import OrderErasureWorkflow
from workflows.order import ServiceOrderWorkflow

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("*.json"))


def test_the_main_paths_have_recorded_histories() -> None:
    names = {p.stem for p in HISTORIES}
    main_paths = {
        "completed_with_revision",
        "expired",
        "payment_overdue",
        "deemed_acceptance",
        "cancelled_after_payment",
    }
    money_paths = {
        "card_declined_then_paid",
        "cancelled_during_card_charge",
        "held_payments",
        "invoice_late_paid_then_cancelled",
        "invoice_voided_after_card",
        "cancelled_through_temporal",
    }
    main_paths |= {"completed_lean", "continued_as_new", "continued_as_new_first_run"}
    main_paths |= {"continued_with_waiting_signals", "continued_with_waiting_signals_first_run"}
    assert (
        main_paths | money_paths | {"deadline_extended", "erasure_completed", "erasure_checks_search_attributes"}
        <= names
    )


def test_a_history_keeps_each_confirmation_pdf_by_reference_only() -> None:
    """Recorded once confirmation emails carry their PDF: each confirmation email's result
    names its version's document, no payload holds a PDF, and the order took the same steps
    as the same walk recorded before PDFs (completed_lean): no new activity, command or event."""
    histories = Path(__file__).parent.parent / "histories"
    text = (histories / "completed_with_pdf.json").read_text()
    events = json.loads(text)["events"]
    results = [
        e["activityTaskCompletedEventAttributes"]["result"]["payloads"][0]
        for e in events
        if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_COMPLETED"
    ]
    receipts = [json.loads(base64.b64decode(r["data"])) for r in results if "data" in r]  # None has no data
    documents = [r["document"] for r in receipts if isinstance(r, dict) and "document" in r]
    # The two emails were in flight together: either may have finished first.
    assert sorted(d["id"] for d in documents) == [f"completed-with-pdf/confirmation-v{n}.pdf" for n in (1, 2)]
    assert all(len(d["sha256"]) == 64 and d["size"] > 1000 for d in documents)
    assert "%PDF" not in text and "JVBERi" not in text  # the bytes, plain or base64
    before = json.loads((histories / "completed_lean.json").read_text())["events"]
    assert _steps(events) == _steps(before)


def test_a_history_keeps_each_receipt_by_reference_only() -> None:
    """Recorded once payment emails carry a receipt: each payment email's result names its receipt
    (the payment's number on the order), no payload holds a PDF, and the order took the same steps
    as the same walk recorded before receipts (completed_with_pdf): no new activity, command or event."""
    histories = Path(__file__).parent.parent / "histories"
    text = (histories / "completed_with_receipts.json").read_text()
    events = json.loads(text)["events"]
    results = [
        e["activityTaskCompletedEventAttributes"]["result"]["payloads"][0]
        for e in events
        if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_COMPLETED"
    ]
    receipts = [json.loads(base64.b64decode(r["data"])) for r in results if "data" in r]
    documents = sorted(r["document"]["id"] for r in receipts if isinstance(r, dict) and "document" in r)
    order = "completed-with-receipts"
    assert documents == sorted(
        [f"{order}/confirmation-v{n}.pdf" for n in (1, 2)] + [f"{order}/receipt-{n}.pdf" for n in (1, 2)]
    )
    assert "%PDF" not in text and "JVBERi" not in text
    before = json.loads((histories / "completed_with_pdf.json").read_text())["events"]
    assert _steps(events) == _steps(before)


def _steps(events: list[dict[str, Any]]) -> Counter[str]:
    """What an order did, counted: each event by its type (an activity by its name, a marker by its
    kind), leaving out workflow tasks, whose number follows how fast the worker was, not the code."""
    steps: Counter[str] = Counter()
    for event in events:
        kind = event["eventType"].removeprefix("EVENT_TYPE_")
        if kind.startswith("WORKFLOW_TASK_"):
            continue
        scheduled = event.get("activityTaskScheduledEventAttributes")
        marker = event.get("markerRecordedEventAttributes")
        steps[kind + (f":{scheduled['activityType']['name']}" if scheduled else "")] += 1
        if marker:
            steps[f"marker:{marker['markerName']}"] += 1
    return steps


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(f"order-{path.stem.replace('_', '-')}", path.read_text())
    # With the SDK's default sandbox and with the worker's (the project's modules passed through).
    for runner in (SandboxedWorkflowRunner(), worker.workflow_runner()):
        replayer = Replayer(
            workflows=[ServiceOrderWorkflow, OrderErasureWorkflow],
            data_converter=data_converter,
            workflow_runner=runner,
        )
        await replayer.replay_workflow(history)
