"""The benchmark's own checks: the cache setting, how billable actions are counted, and
what the confirmation PDF's figures count.

Speed and memory are the benchmark's figures, never a test's: the full
benchmark is ``python -m bench``; CI runs ``python -m bench --smoke``, which
checks that it works.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload, Payloads, SearchAttributes
from temporalio.api.enums.v1 import EventType as E
from temporalio.api.history.v1 import (
    ActivityTaskCompletedEventAttributes,
    ActivityTaskScheduledEventAttributes,
    ActivityTaskStartedEventAttributes,
    HistoryEvent,
    MarkerRecordedEventAttributes,
    UpsertWorkflowSearchAttributesEventAttributes,
)

from activities.config import DEFAULT_MAX_CACHED_WORKFLOWS, ConfigError, Settings
from bench import worker_child
from bench.canonical import draft
from bench.documents import (
    CITATION_BYTES,
    EVENT_ID_JITTER,
    PROTOBUF_PER_COPY,
    confirmation_context,
    data_bytes,
    history_budget,
    pdf_cost,
    ref_bytes,
)
from bench.history import action_breakdown, billable_actions
from bench.park import Deployment, marginal
from bench.report import TARGETS, Row
from ordersecurity.codec import KEYS_ENV, KeyRing
from workflows.email_contexts import EFFECTIVE_TERMS

ROOT = Path(__file__).resolve().parent.parent


def test_the_cache_size_is_configurable() -> None:
    assert Settings.from_env({}).max_cached_workflows == DEFAULT_MAX_CACHED_WORKFLOWS
    assert Settings.from_env({"ORDERS_MAX_CACHED_WORKFLOWS": "5000"}).max_cached_workflows == 5000
    assert Settings.from_env({"ORDERS_MAX_CACHED_WORKFLOWS": "0"}).max_cached_workflows == 0
    for bad in ("-1", "many", "1.5"):
        with pytest.raises(ConfigError, match="ORDERS_MAX_CACHED_WORKFLOWS"):
            Settings.from_env({"ORDERS_MAX_CACHED_WORKFLOWS": bad})


def test_billable_actions_follow_temporal_clouds_rules() -> None:
    def event(kind: int, **attributes: Any) -> HistoryEvent:
        return HistoryEvent(event_type=kind, **attributes)  # type: ignore[arg-type]

    def upsert(*keys: str) -> HistoryEvent:
        fields = {key: Payload(data=b'"x"') for key in keys}
        attributes = UpsertWorkflowSearchAttributesEventAttributes(
            search_attributes=SearchAttributes(indexed_fields=fields)
        )
        return event(
            E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
            upsert_workflow_search_attributes_event_attributes=attributes,
        )

    def marker(task: int, name: str = "core_local_activity") -> HistoryEvent:
        attributes = MarkerRecordedEventAttributes(marker_name=name, workflow_task_completed_event_id=task)
        return event(E.EVENT_TYPE_MARKER_RECORDED, marker_recorded_event_attributes=attributes)

    history = [
        event(E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, event_id=1),
        event(E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, event_id=2),  # signal-with-start: free
        event(E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
        event(E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, event_id=7),
        event(
            E.EVENT_TYPE_ACTIVITY_TASK_STARTED,
            activity_task_started_event_attributes=ActivityTaskStartedEventAttributes(attempt=3),
        ),
        event(E.EVENT_TYPE_TIMER_STARTED),
        upsert("TemporalChangeVersion"),  # free
        upsert("OrderStatus", "OrderRevision"),  # one command, one action
        marker(4),
        marker(4),  # markers of one workflow task: one action
        marker(9),
        marker(12, "core_patch"),  # workflow.patched: free
        marker(12, "Version"),  # the Go and Java SDKs' GetVersion: free
    ]
    assert action_breakdown(history) == {"start": 1, "signal": 1, "activity": 3, "timer": 1, "upsert": 1, "markers": 2}
    assert billable_actions(history) == 9


def _payload(value: object) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value, separators=(",", ":")).encode())


def _ref(version: int) -> dict[str, object]:
    return {"id": f"order-42/confirmation-v{version}.pdf", "size": 24_000 + version, "sha256": f"{version:x}" * 64}


def _completed(result: dict[str, object]) -> HistoryEvent:
    attributes = ActivityTaskCompletedEventAttributes(result=Payloads(payloads=[_payload(result)]))
    return HistoryEvent(
        event_type=E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, activity_task_completed_event_attributes=attributes
    )


def test_the_pdf_budget_is_each_versions_ref_once_per_copy_of_the_state() -> None:
    """The history may hold each version's DocumentRef where the order records it (the email's
    receipt), and again in each copy of its state that continue-as-new writes; the budget
    counts those and nothing else, so a ref copied anywhere more shows up as a miss."""
    receipts = [_completed({"message_key": f"k{v}", "backend": "outbox", "document": _ref(v)}) for v in (1, 2)]
    budget = history_budget(receipts)
    assert (budget.refs, budget.found, budget.copies) == (2, 2, 1)
    per_ref = [ref_bytes(_ref(v)) for v in (1, 2)]
    assert per_ref[0] == len(',"document":' + json.dumps(_ref(1), separators=(",", ":")))
    assert budget.bytes == sum(per_ref) + 2 * PROTOBUF_PER_COPY + EVENT_ID_JITTER

    # A ref that an email's context carried as well is found, but gets no more budget.
    context = HistoryEvent(
        event_type=E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        activity_task_scheduled_event_attributes=ActivityTaskScheduledEventAttributes(
            input=Payloads(payloads=[_payload({"context": {"confirmation": {"document": _ref(1)}}})])
        ),
    )
    assert history_budget([*receipts, context]) == replace(budget, found=3)

    # The closing email's certificate cites each version's PDF by its hash: budgeted, once per citation.
    cites = HistoryEvent(
        event_type=E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        activity_task_scheduled_event_attributes=ActivityTaskScheduledEventAttributes(
            input=Payloads(
                payloads=[
                    _payload(
                        {
                            "certificate": {
                                "facts": {
                                    "versions": [{"number": v, "document_sha256": _ref(v)["sha256"]} for v in (1, 2)]
                                    + [{"number": 3, "document_sha256": "f" * 64}]
                                }
                            }
                        }
                    )
                ]
            )
        ),
    )
    cited = history_budget([*receipts, cites])
    assert cited.cited == 2  # a hash that is none of the PDFs' gets no budget
    assert cited.bytes == budget.bytes + 2 * CITATION_BYTES

    # Continue-as-new writes the state (with both refs) into the old run's last event and the new run's first.
    carried = HistoryEvent(event_type=E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW)
    assert history_budget([*receipts, carried]).copies == 3


def test_the_pdf_history_figure_leaves_out_workflow_task_events() -> None:
    task = HistoryEvent(event_type=E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, event_id=300)
    receipt = _completed({"message_key": "k", "backend": "outbox", "document": _ref(1)})
    assert data_bytes([receipt, task, task]) == data_bytes([receipt]) == receipt.ByteSize()


def test_a_size_target_is_on_the_figure_not_the_ratio() -> None:
    size = TARGETS["pdf_size"]
    assert size.absolute
    assert Row("confirmation PDF size", size.limit, 0, "KiB", size).verdict == "PASS"
    assert Row("confirmation PDF size", size.limit + 1, 0, "KiB", size).verdict == "MISS"
    assert Row("history bytes added by PDFs", 301, 300, "B", TARGETS["pdf_history"]).verdict == "MISS"


def test_the_pdf_is_rendered_from_the_canonical_orders_confirmation() -> None:
    cost = pdf_cost(Settings(), repeats=1)
    assert cost.pdf_bytes > 0 and cost.pdf_seconds > 0 and cost.email_seconds > 0
    context = confirmation_context(Settings())
    assert context["confirmation"]["line_items"][0]["description"] == draft().line_items[0].description
    assert set(context["effective"]) == set(EFFECTIVE_TERMS)


def test_the_deployed_worker_gets_what_orders_worker_reads(tmp_path: Any) -> None:
    """bench/park.py's deployed side is worker.py configured as ``orders worker`` runs it:
    an encryption key of its own, the outbox, a document directory."""
    deployment = Deployment.in_directory(tmp_path)
    ring = KeyRing.parse(deployment.environment[KEYS_ENV])
    assert ring.active and ring.encrypting_key_id == "bench"
    settings = deployment.settings()
    assert settings.email_backend == "outbox"
    assert settings.outbox_dir == tmp_path / "outbox"
    assert settings.documents_path == tmp_path / "documents"
    assert "deployed" in worker_child.SIDES


def test_memory_per_order_is_the_marginal_cost_of_the_last_step() -> None:
    curve = [(0, 100 * 2**20), (1000, 300 * 2**20), (2000, 425 * 2**20)]
    assert marginal(curve) == 125 * 2**20 / 1000


def test_python_m_bench_park_parks_orders_and_reports_memory(tmp_path: Any) -> None:
    """The documented ``python -m bench.park`` runs: a dev server, the deployed worker, a report."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.park", "--orders", "4", "--step", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert "parking 4 orders in a deployed worker, 2 at a time" in done.stdout
    for line in ("2 parked:", "4 parked:", "per parked order, on average:", "per parked order, the last 2:"):
        assert line in done.stdout
    assert re.search(r"resident memory,\s+4 parked:\s+[1-9][\d,]* MiB", done.stdout), done.stdout


async def test_the_codec_bench_runs_the_codec_with_the_master_key_and_an_orders_own_key() -> None:
    from bench.codec_cost import DEFAULT_HISTORY, load, order_key_cost, payloads_of
    from ordersecurity.codec import KeyRing, new_key_entry

    payloads = [p for p in payloads_of(load(DEFAULT_HISTORY)) if "type" not in p.metadata][:5]
    costs = await order_key_cost(payloads, KeyRing.parse(new_key_entry("bench")), rounds=10)
    assert set(costs) == {"master key encode", "master key decode", "order key encode", "order key decode"}
    assert all(seconds > 0 for seconds in costs.values())
