"""The Temporal SDK's ``TracingInterceptor``, with each signal and update in its sender's trace.

Imported only when tracing is on (orderclient/tracing.py): it needs the
``tracing`` extra.

The SDK's workflow interceptor puts a signal's or an update's spans in the
trace of the workflow's start and only *links* the sender's span. For this
product one customer action is one trace (the portal's POST, the update, the
workflow's handling of it, the activities it starts, their Stripe or SendGrid
request), so here a handler's span is a child of the sender's span and links
the workflow's instead: the order's trace is a click away, as the sender's
was. Without a sender's context (a signal from ``temporal workflow signal``)
the SDK's behaviour is kept. Spans are still made only outside replay.

An action's effects often start in the workflow's main loop rather than in
its handler (an approval lets ``run`` go on to request the payment), in the
same workflow task. So an activity, child workflow or external signal started
at the workflow's top level during the workflow task that handled an action
(the same workflow time, ``task_time``) joins that action's trace too; one started
by a later task (a timer) stays in the order's trace.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import opentelemetry.context
import opentelemetry.trace
from temporalio import worker
from temporalio.api.common.v1 import Payload
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor


class ActionTracingInterceptor(TracingInterceptor):
    """``TracingInterceptor`` whose workflow side is ``ActionTracingWorkflowInterceptor``."""

    def workflow_interceptor_class(
        self, input: worker.WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        super().workflow_interceptor_class(input)  # registers the SDK's span extern function
        return ActionTracingWorkflowInterceptor


def task_time() -> float:
    """The current workflow task's time (``workflow.time()``): inside a workflow the running
    loop is the workflow's, whose clock is the task's. Read through asyncio so that the
    client library imports no workflow API (tests/test_imports.py)."""
    return asyncio.get_running_loop().time()


OUTBOUND_SPANS = ("StartActivity:", "StartChildWorkflow:", "SignalExternalWorkflow:")
"""The spans of what a workflow starts: they join the trace of the action that led to them."""


class ActionTracingWorkflowInterceptor(TracingWorkflowInboundInterceptor):
    """Signal and update handlers traced as children of their sender's span."""

    def __init__(self, next: worker.WorkflowInboundInterceptor) -> None:
        super().__init__(next)
        self._action: tuple[dict[str, Any], float] | None = None
        """The last sender's trace context, and the workflow task (its time) that handled it."""

    @contextlib.contextmanager
    def _sender_context(self, headers: Mapping[str, Payload]) -> Iterator[bool]:
        """The sender's trace context made current, if the headers carry one (True)."""
        header = headers.get(self.header_key)
        if not header:
            yield False
            return
        carrier = self.payload_converter.from_payloads([header])[0]
        self._action = (carrier, task_time())
        context = self._set_on_context(self.text_map_propagator.extract(carrier))
        token = opentelemetry.context.attach(context)
        try:
            yield True
        finally:
            opentelemetry.context.detach(token)

    def _handler_span(self, name: str) -> None:
        self._completed_span(
            name, link_context_carrier=self._load_workflow_context_carrier(), kind=opentelemetry.trace.SpanKind.SERVER
        )

    async def handle_signal(self, input: worker.HandleSignalInput) -> None:
        with self._sender_context(input.headers) as found:
            if not found:
                return await super().handle_signal(input)
            self._handler_span(f"HandleSignal:{input.signal}")
            await self.next.handle_signal(input)
        return None

    def handle_update_validator(self, input: worker.HandleUpdateInput) -> None:
        with self._sender_context(input.headers) as found:
            if not found:
                return super().handle_update_validator(input)
            self._handler_span(f"ValidateUpdate:{input.update}")
            self.next.handle_update_validator(input)
        return None

    async def handle_update_handler(self, input: worker.HandleUpdateInput) -> Any:
        with self._sender_context(input.headers) as found:
            if not found:
                return await super().handle_update_handler(input)
            self._handler_span(f"HandleUpdate:{input.update}")
            return await self.next.handle_update_handler(input)

    def _completed_span(self, span_name: str, **kwargs: Any) -> None:
        """The SDK's span; an outbound one from the top level joins the trace of this task's action."""
        carrier = self._action_of_this_task() if span_name.startswith(OUTBOUND_SPANS) else None
        if carrier is None or not self._at_top_level():
            return super()._completed_span(span_name, **kwargs)
        kwargs.setdefault("link_context_carrier", self._load_workflow_context_carrier())
        token = opentelemetry.context.attach(self._set_on_context(self.text_map_propagator.extract(carrier)))
        try:
            return super()._completed_span(span_name, **kwargs)
        finally:
            opentelemetry.context.detach(token)

    def _action_of_this_task(self) -> dict[str, Any] | None:
        if self._action is None or self._action[1] != task_time():
            return None
        return self._action[0]

    def _at_top_level(self) -> bool:
        """Whether the current span is the workflow's own (not a handler's): its main loop."""
        current = opentelemetry.trace.get_current_span().get_span_context()
        carrier = self._load_workflow_context_carrier()
        if not carrier:
            return not current.is_valid
        started = opentelemetry.trace.get_current_span(self.text_map_propagator.extract(carrier))
        return current.span_id == started.get_span_context().span_id
