"""Every committed history must replay against today's workflow code.

A failure here means a change would break orders already running: guard the
change with ``workflow.patched`` rather than re-recording the history.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

import worker
from workflows.converter import data_converter
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
    assert main_paths | money_paths | {"deadline_extended"} <= names


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(f"order-{path.stem.replace('_', '-')}", path.read_text())
    # With the SDK's default sandbox and with the worker's (the project's modules passed through).
    for runner in (SandboxedWorkflowRunner(), worker.workflow_runner()):
        replayer = Replayer(workflows=[ServiceOrderWorkflow], data_converter=data_converter, workflow_runner=runner)
        await replayer.replay_workflow(history)
