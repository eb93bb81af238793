"""One ``OrderState`` carries the order across continue-as-new, and runs that
continued with the older shape of ``Continuation`` still resume.

Before ``OrderState``, a ``Continuation`` listed its fields at the top level
(``{"order": ..., "applied": ..., "fired": ...}``). Orders that continued as new
then are still running; their next run's start input has that shape. The two
committed histories that continued as new hold such inputs.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from workflows import names
from workflows.models import (
    Continuation,
    InvoicePhase,
    OrderPolicy,
    OrderState,
    OrderView,
    SagaPhase,
    StartOrderInput,
)

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
OLD_SHAPE = ["continued_as_new.json", "continued_with_waiting_signals.json"]
# Flags of the older state that are phases now.
OLD_FLAGS = {"invoice_closed", "settled", "invoice_follows"}


def old_start_input(history: str) -> dict[str, Any]:
    """The start input of a run that resumed from the older ``Continuation``."""
    events = json.loads((HISTORIES / history).read_text())["events"]
    payload = events[0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
    start: dict[str, Any] = json.loads(base64.b64decode(payload["data"]))
    assert "state" not in start["resume"] and "order" in start["resume"], "not the older shape"
    return start


@pytest.mark.parametrize("history", OLD_SHAPE)
def test_the_older_continuation_converts_to_the_whole_state(history: str) -> None:
    old = old_start_input(history)["resume"]
    state = Continuation.model_validate(old).state
    carried = state.model_dump(mode="json")
    for field, value in old.items():
        if field == "order":
            assert OrderView.model_validate(value) == state.order
        elif field == "policy":
            # Fields the policy gained since have their defaults.
            assert OrderPolicy.model_validate(value) == state.policy
        elif field in OLD_FLAGS:
            continue  # became phases: checked below
        else:
            assert carried[field] == value, field

    assert (state.invoice is InvoicePhase.CLOSED) == old["invoice_closed"]
    assert (state.saga is SagaPhase.SETTLED) == old["settled"]


@pytest.mark.parametrize(
    ("closed", "settled", "invoice_id", "invoice", "saga"),
    [
        (False, False, None, InvoicePhase.NONE, SagaPhase.COLLECTING),
        (False, False, "in_1", InvoicePhase.OPEN, SagaPhase.COLLECTING),
        (True, False, "in_1", InvoicePhase.CLOSED, SagaPhase.COLLECTING),
        (True, True, "in_1", InvoicePhase.CLOSED, SagaPhase.SETTLED),
    ],
)
def test_the_old_saga_flags_become_phases(
    closed: bool, settled: bool, invoice_id: str | None, invoice: InvoicePhase, saga: SagaPhase
) -> None:
    old = old_start_input(OLD_SHAPE[0])["resume"]
    old["order"]["payment_instructions"] = {"reference": "SO-1", "invoice_id": invoice_id}
    old |= {"invoice_closed": closed, "settled": settled, "invoice_follows": True}
    state = Continuation.model_validate(old).state
    assert (state.invoice, state.saga) == (invoice, saga)
    assert not {"invoice_closed", "settled", "invoice_follows"} & state.model_dump().keys()


def test_every_field_of_the_state_is_carried_once() -> None:
    assert list(Continuation.model_fields) == ["state"]
    state = OrderState.model_validate(old_start_input(OLD_SHAPE[0])["resume"])
    assert Continuation.model_validate({"state": state.model_dump(mode="json")}).state == state


@pytest.mark.parametrize("history", OLD_SHAPE)
async def test_an_order_resumes_from_the_older_continuation(
    ts_env: WorkflowEnvironment, worker: Worker, task_queue: str, history: str
) -> None:
    start = old_start_input(history)
    expected = StartOrderInput.model_validate(start).resume
    assert expected is not None
    handle = await ts_env.client.start_workflow(
        names.WORKFLOW_TYPE, start, id=f"order-old-shape-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )
    view = await handle.query(names.STATUS_QUERY, result_type=OrderView)
    carried = expected.state.order
    assert view.order_id == carried.order_id
    assert view.runs == carried.runs
    assert view.approved_version == carried.approved_version
    assert view.amount_paid == carried.amount_paid
    assert [e.event for e in view.timeline].count("run continued") == 1 + [e.event for e in carried.timeline].count(
        "run continued"
    )
    await handle.terminate("test over")
