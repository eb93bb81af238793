"""A long life in bounded runs: effects in flight, the handover to the next run, and what it carries.

``Effects`` runs emails, charges, refunds and forwards beside the process and
lets them finish (drain) before a run closes or continues as new. ``Handover``
decides when a run continues as new, keeps the signals that arrive meanwhile
for the next run, and starts it with the whole ``OrderState`` (``carry``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from temporalio import workflow

from workflows import details
from workflows.models import Action, Continuation, OrderState, StartOrderInput, WaitingAction

# When one run's history grows this long, the order continues as new (or when
# Temporal suggests it): far inside the limits (51,200 events, 50 MB) and the
# warnings (10,240 events, 10 MB), however long a support period lasts. The
# worker's ORDERS_RUN_EVENT_BUDGET (in the policy) takes the place of the default.
RUN_EVENT_BUDGET = 8_000
RUN_BYTE_BUDGET = 6 * 1024 * 1024
# Request ids remembered for deduplication across runs: the most recent ones.
APPLIED_KEPT = 1_000
# Signals that arrive while a run hands over to the next wait for it, up to this
# many bytes; past it they are applied at once and the handover waits for them.
WAITING_BYTES = 1_000_000

# workflow.patched id: before it, signals during the handover were applied at once.
SIGNALS_WAIT_FOR_NEXT_RUN = "signals-during-continue-as-new-wait-for-next-run"


class Effects:
    """Steps that run beside the process; a run closes only once all are done."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[object]] = []

    def spawn(self, step: Coroutine[Any, Any, object]) -> None:
        # Finished effects are dropped, so a years-long order holds only those in flight;
        # one that failed is kept for ``finish`` to raise.
        self._tasks = [t for t in self._tasks if not t.done() or (not t.cancelled() and t.exception())]
        self._tasks.append(asyncio.create_task(step))

    def quiet(self) -> bool:
        """No effect and no handler is running."""
        return all(t.done() for t in self._tasks) and workflow.all_handlers_finished()

    async def finish(self) -> None:
        """Let effects and handlers in flight finish; an effect may start another (a refund, then its email)."""
        await workflow.wait_condition(self.quiet)
        await asyncio.gather(*self._tasks)


class Handover:
    """When a run continues as new, and the signals that wait for the next run meanwhile."""

    def __init__(self, state: OrderState, effects: Effects, published: details.Details) -> None:
        self._state = state
        self._effects = effects
        self._details = published
        self._handing_over = False
        self._waiting_bytes = 0

    def due(self) -> bool:
        """The run's history is long enough (or Temporal suggests it) to continue as new."""
        info = workflow.info()
        policy = self._state.policy
        events = policy.run_event_budget if policy else RUN_EVENT_BUDGET
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > events
            or info.get_current_history_size() > RUN_BYTE_BUDGET
        )

    def busy(self) -> bool:
        """Signals wait for the next run (or still wait to be applied in this one)."""
        return self._handing_over or bool(self._state.waiting)

    def stop(self) -> None:
        """The run will not continue as new after all (it was cancelled)."""
        self._handing_over = False

    async def continue_as_new(self) -> None:
        """Drain, then start the next run with everything that decides the future.

        The effects in flight finish here. Signals that arrive meanwhile wait for
        the next run (``keep``): applied now, a steady stream would keep starting
        effects, and the run could never close.
        """
        if workflow.patched(SIGNALS_WAIT_FOR_NEXT_RUN):
            self._handing_over = True
        await workflow.wait_condition(self._effects.quiet)
        self._details.upsert_changes()
        order = self._state.order
        workflow.continue_as_new(
            StartOrderInput(
                order_id=order.order_id,
                customer=order.customer,
                channel=order.channel,
                message=order.first_message,
                resume=carry(self._state),
            ),
            initial_versioning_behavior=next_run_versioning(),
        )

    def keep(self, action: str, request: Action) -> bool:
        """Keep a signal for the next run; ``True`` when too much waits and all must be applied now."""
        self._state.waiting.append(WaitingAction(action=action, request=request.model_dump(mode="json")))
        self._waiting_bytes += len(request.model_dump_json())
        if self._waiting_bytes > WAITING_BYTES:
            # Too much to carry into the next run: apply it here after all.
            self._handing_over = False
            return True
        return False

    def take_waiting(self) -> list[WaitingAction]:
        """The signals that waited, in the order they arrived; none wait after this."""
        waiting, self._state.waiting, self._waiting_bytes = self._state.waiting, [], 0
        return waiting


def carry(state: OrderState) -> Continuation:
    """The whole state, with the long lists cut to their newest entries."""
    held_from = dict(state.held_from)
    carried: dict[str, list[Any]] = {}
    for kind, budget in details.LIST_BUDGET.items():
        entries = getattr(state.order, kind)
        kept = details.newest_within(entries, budget)
        carried[kind] = kept
        held_from[kind] = held_from.get(kind, 0) + len(entries) - len(kept)
    applied = dict(list(state.applied.items())[-APPLIED_KEPT:])
    return Continuation(
        state=state.model_copy(
            update={
                "order": state.order.model_copy(update={**carried, "runs": state.order.runs + 1}),
                "applied": applied,
                "applied_by": {key: update for key, update in state.applied_by.items() if key in applied},
                "held_from": held_from,
            }
        )
    )


def next_run_versioning() -> workflow.ContinueAsNewVersioningBehavior | None:
    """On a versioned worker, the next run starts on the deployment's current version (and is
    pinned there by the worker's default): an order moves to new code only between runs.
    Unversioned (no deployment version), the command is exactly what it was before."""
    if workflow.info().get_current_deployment_version() is None:
        return None
    return workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE
