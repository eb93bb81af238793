"""What one workflow's history costs: events, bytes and Temporal Cloud actions.

Billable actions are counted from the history by Temporal Cloud's published
rules (https://docs.temporal.io/cloud/actions), as the Temporal UI estimates
them from a history (its ``get-event-billable-actions``):

- a workflow start: 1 (also each continue-as-new run);
- a signal: 1, except the one of a signal-with-start; an accepted update: 1 (a
  rejected one is billed too, but is not in history: the bench sends signals only);
- an activity: 1 per attempt (started or retried);
- a timer started: 1 (``wait_condition`` with a timeout starts one too);
- a search-attribute upsert: 1 per command, however many keys it sets, except
  one that only sets ``TemporalChangeVersion``; attributes given at start are free;
- markers of local activities and side effects: 1 per workflow task that records
  any; ``workflow.patched`` markers (``core_patch``, and ``Version`` of the Go and
  Java SDKs) are free;
- a child workflow: 2; a signal to another workflow: 1.

Queries are billed too, but leave no event: the bench never queries the
orders it measures (it watches them with ``describe``, which is not billed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

E = EventType
CHANGE_VERSION = "TemporalChangeVersion"
FREE_MARKERS = frozenset({"core_patch", "Version"})
# A signal-with-start's signal is the second event, and billed with the start.
SIGNAL_WITH_START_EVENT_ID = 2

ONE_ACTION = frozenset(
    {
        E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
        E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
        E.EVENT_TYPE_TIMER_STARTED,
        E.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
        E.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED,
    }
)


_SHORT = {
    E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "start",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signal",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "update",
    E.EVENT_TYPE_TIMER_STARTED: "timer",
}


@dataclass(frozen=True)
class HistoryCost:
    events: int
    actions: int
    bytes: int
    workflow_tasks: int

    def __add__(self, other: HistoryCost) -> HistoryCost:
        return HistoryCost(
            self.events + other.events,
            self.actions + other.actions,
            self.bytes + other.bytes,
            self.workflow_tasks + other.workflow_tasks,
        )


def action_breakdown(events: Sequence[HistoryEvent]) -> Counter[str]:
    """Billable actions by what caused them: ``start``, ``signal``, ``activity``, ``timer``, ..."""
    actions: Counter[str] = Counter()
    marker_tasks: set[int] = set()
    for event in events:
        kind = event.event_type
        if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED and event.event_id == SIGNAL_WITH_START_EVENT_ID:
            continue
        if kind in ONE_ACTION:
            actions[_SHORT.get(kind, E.Name(kind))] += 1
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            actions["activity"] += max(1, event.activity_task_started_event_attributes.attempt)
        elif kind == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
            if set(fields) - {CHANGE_VERSION}:
                actions["upsert"] += 1
        elif (
            kind == E.EVENT_TYPE_MARKER_RECORDED
            and event.marker_recorded_event_attributes.marker_name not in FREE_MARKERS
        ):
            marker_tasks.add(event.marker_recorded_event_attributes.workflow_task_completed_event_id)
        elif kind == E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            actions["child"] += 2
    if marker_tasks:
        actions["markers"] = len(marker_tasks)
    return actions


def billable_actions(events: Sequence[HistoryEvent]) -> int:
    return sum(action_breakdown(events).values())


def cost(events: Sequence[HistoryEvent]) -> HistoryCost:
    return HistoryCost(
        events=len(events),
        actions=billable_actions(events),
        bytes=sum(e.ByteSize() for e in events),
        workflow_tasks=sum(1 for e in events if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
    )


async def runs(client: Client, workflow_id: str, first_run_id: str | None) -> list[list[HistoryEvent]]:
    """The events of every run, following continue-as-new from the first run."""
    found: list[list[HistoryEvent]] = []
    run_id = first_run_id
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        found.append(list(history.events))
        last: Any = history.events[-1] if history.events else None
        if last is None or last.event_type != E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            return found
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id


async def workflow_cost(client: Client, workflow_id: str, first_run_id: str | None) -> HistoryCost:
    """What a workflow cost, over all its runs."""
    return cost([event for run in await runs(client, workflow_id, first_run_id) for event in run])
