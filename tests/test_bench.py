"""The benchmark's own checks: the cache setting, and how billable actions are counted.

Speed and memory are the benchmark's figures, never a test's: the full
benchmark is ``python -m bench``; CI runs ``python -m bench --smoke``, which
checks that it works.
"""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.api.common.v1 import Payload, SearchAttributes
from temporalio.api.enums.v1 import EventType as E
from temporalio.api.history.v1 import (
    ActivityTaskStartedEventAttributes,
    HistoryEvent,
    MarkerRecordedEventAttributes,
    UpsertWorkflowSearchAttributesEventAttributes,
)

from activities.config import DEFAULT_MAX_CACHED_WORKFLOWS, ConfigError, Settings
from bench.history import action_breakdown, billable_actions


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
