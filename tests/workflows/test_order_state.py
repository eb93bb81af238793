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
from workflows.models import Continuation, OrderPolicy, OrderState, OrderView, StartOrderInput

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
OLD_SHAPE = ["continued_as_new.json", "continued_with_waiting_signals.json"]


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
        else:
            assert carried[field] == value, field


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
