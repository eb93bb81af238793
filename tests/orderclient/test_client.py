"""OrderClient on the dev server: typed results and errors, idempotent start,
what operators see in the Temporal UI (search attributes, summary, details),
and a signed link from a real email that verifies."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.message import Message
from temporalio.api.common.v1 import GrpcStatus
from temporalio.api.enums.v1 import ResourceExhaustedCause
from temporalio.api.errordetails.v1 import ResourceExhaustedFailure, WorkflowNotReadyFailure
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from orderclient.client import (
    ActionRejected,
    InvalidPayload,
    NoWorkerAvailable,
    OrderClient,
    OrderClosed,
    OrderNotFound,
    WrongOrderLink,
    form_nonce,
    link_request_id,
)
from orderclient.errors import aborted_update
from orderclient.summaries import order_details, order_summary
from tests.conftest import make_worker
from tests.helpers import draft, eventually, new_order_id, outbox, start_input
from workflows import names
from workflows.models import (
    AcceptInput,
    ActionResult,
    AddNoteInput,
    ApproveInput,
    CancelInput,
    Customer,
    DeliverInput,
    IssueConfirmationInput,
    OrderPolicy,
    OrderStatus,
    OrderView,
    PostUpdateInput,
    RecordPaymentInput,
    RequestRevisionInput,
    StartOrderInput,
    SupportRequestInput,
)

S = OrderStatus
LINK_SECRET = "client-test-link-secret-0123"


@pytest.fixture
def link_settings(settings: Settings) -> Settings:
    return replace(settings, link_secret=LINK_SECRET, web_base_url="https://shop.example.com")


@pytest.fixture
async def orders(dev_env: WorkflowEnvironment, link_settings: Settings, task_queue: str) -> AsyncIterator[OrderClient]:
    async with make_worker(dev_env.client, link_settings, task_queue):
        yield OrderClient(dev_env.client, task_queue=task_queue, link_secret=LINK_SECRET)


async def _terminate_if_running(orders: OrderClient, order_id: str) -> None:
    handle = orders.handle(order_id)
    if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        await handle.terminate("test over")


async def poll(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 10) -> None:
    """Visibility is eventually consistent: ask again for a few seconds."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.1)


async def test_start_is_idempotent_on_the_order_id(orders: OrderClient) -> None:
    inp = start_input()
    first = await orders.start(inp)
    again = await orders.start(inp.model_copy(update={"message": "A different message"}))
    assert (first.existing, again.existing) == (False, True)
    assert first.workflow_id == again.workflow_id == names.workflow_id(inp.order_id)
    view = await orders.status(inp.order_id)
    assert view.first_message == inp.message  # the existing order was kept
    await orders.act(inp.order_id, CancelInput(reason="test over"))
    # A closed order's id stays taken.
    assert (await orders.start(inp)).existing


async def test_actions_answer_with_the_new_status(orders: OrderClient) -> None:
    order = (await orders.start(start_input())).order_id
    try:
        steps: list[tuple[Awaitable[Any], OrderStatus]] = [
            (orders.act(order, AddNoteInput(text="Needs SSO")), S.DISCUSSING),
            (orders.act(order, IssueConfirmationInput(confirmation=draft())), S.AWAITING_APPROVAL),
            (orders.act(order, ApproveInput(version=1)), S.AWAITING_PAYMENT),
            (orders.act(order, RecordPaymentInput(amount=Decimal("4800"), reference="TX")), S.IN_PROGRESS),
            (orders.act(order, PostUpdateInput(text="Design done", milestone="Design")), S.IN_PROGRESS),
            (orders.act(order, DeliverInput(summary="Live")), S.AWAITING_ACCEPTANCE),
            (orders.act(order, AcceptInput()), S.IN_SUPPORT),
        ]
        for call, expected in steps:
            result = await call
            assert (result.order_id, result.status, result.applied) == (order, expected, True)
    finally:
        await _terminate_if_running(orders, order)


async def test_a_repeated_request_id_is_applied_once(orders: OrderClient) -> None:
    order = (await orders.start(start_input())).order_id
    try:
        note = AddNoteInput(text="once", request_id="crm-note-1")
        assert (await orders.act(order, note)).applied
        assert not (await orders.act(order, note)).applied
        # A mapping straight from a request body is validated by the action's model.
        assert not (await orders.update(order, names.ADD_NOTE, {"text": "once", "request_id": "crm-note-1"})).applied
        assert len((await orders.status(order)).notes) == 1
    finally:
        await _terminate_if_running(orders, order)


async def test_rejections_carry_the_reason(orders: OrderClient) -> None:
    order = (await orders.start(start_input())).order_id
    try:
        with pytest.raises(ActionRejected) as caught:
            await orders.act(order, DeliverInput(summary="too early"))
        assert caught.value.reason == "cannot deliver while the order is DISCUSSING"
        assert (caught.value.order_id, caught.value.action) == (order, names.DELIVER)
        with pytest.raises(InvalidPayload) as invalid:
            await orders.update(order, names.RECORD_PAYMENT, {"amount": "-1", "reference": "TX"})
        assert "amount: Input should be greater than 0" in invalid.value.reason
        with pytest.raises(TypeError):
            await orders.update(order, names.APPROVE, AddNoteInput(text="wrong model"))
    finally:
        await _terminate_if_running(orders, order)


async def test_unknown_and_closed_orders(orders: OrderClient) -> None:
    with pytest.raises(OrderNotFound) as caught:
        await orders.act("no-such-order", AddNoteInput(text="hello"))
    assert caught.value.order_id == "no-such-order"
    with pytest.raises(OrderNotFound):
        await orders.status("no-such-order")
    with pytest.raises(OrderNotFound):
        await orders.send_signal("no-such-order", names.ACCEPT, AcceptInput())

    order = (await orders.start(start_input())).order_id
    await orders.act(order, CancelInput(reason="changed plans", by="customer"))
    handle = orders.handle(order)

    async def closed() -> bool:
        return (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED

    await poll(closed, "cancelled order completes")
    with pytest.raises(OrderClosed) as closed_error:
        await orders.act(order, AddNoteInput(text="too late"))
    assert isinstance(closed_error.value, ActionRejected)
    assert (await orders.status(order)).status is OrderStatus.CANCELLED  # queries still answer


async def test_no_worker_is_a_typed_error(dev_env: WorkflowEnvironment) -> None:
    orders = OrderClient(dev_env.client, task_queue="nobody-polls-this", update_timeout=timedelta(seconds=1))
    order = (await orders.start(start_input())).order_id
    try:
        with pytest.raises(NoWorkerAvailable) as caught:
            await orders.act(order, AddNoteInput(text="anyone?"))
        assert caught.value.operation == "update"
        sent = await orders.send_signal(order, names.ADD_NOTE, AddNoteInput(text="queued"))
        assert sent.request_id and sent.action == names.ADD_NOTE
    finally:
        await orders.handle(order).terminate("test over")


async def test_status_without_a_worker_fails_at_once(dev_env: WorkflowEnvironment) -> None:
    """Asking again is for a busy order: with no worker polling, one timeout is enough."""
    orders = OrderClient(dev_env.client, task_queue="nobody-polls-this", query_timeout=timedelta(seconds=1))
    order = (await orders.start(start_input())).order_id
    try:
        began = asyncio.get_running_loop().time()
        with pytest.raises(NoWorkerAvailable) as caught:
            await orders.status(order)
        assert caught.value.operation == "query"
        assert asyncio.get_running_loop().time() - began < 4, "one attempt, not three"
    finally:
        await orders.handle(order).terminate("test over")


@pytest.mark.long
async def test_status_while_an_order_switches_runs(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    """`orders status` from three readers at once, while a stream of support requests
    makes the order continue as new every few seconds: every one answers.

    Temporal holds one query per workflow while a workflow task runs and refuses the
    others (RESOURCE_EXHAUSTED), which the SDK retries after 1 s, 2 s, 4 s...; asked
    once, about one status in 200 here ran out of its 10 s (NoWorkerAvailable though
    the worker was up). OrderClient asks a busy order again."""
    small = replace(settings, policy=OrderPolicy(run_event_budget=200))
    count = 1_000
    async with make_worker(dev_env.client, small, task_queue):
        orders = OrderClient(dev_env.client, task_queue=task_queue)
        order = (await orders.start(start_input())).order_id
        handle = orders.handle(order)
        await orders.act(order, IssueConfirmationInput(confirmation=draft(support_period=timedelta(days=365))))
        await orders.act(order, ApproveInput(version=1))
        await orders.act(order, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
        await orders.act(order, DeliverInput(summary="Done"))
        await orders.act(order, AcceptInput())
        received = asyncio.Event()
        answers: list[OrderView] = []

        async def customers() -> None:
            for start in range(0, count, 10):
                batch = (SupportRequestInput(subject=f"T{n}", text="x" * 2_000) for n in range(start, start + 10))
                await asyncio.gather(*(handle.signal(names.REQUEST_SUPPORT, r) for r in batch))
                await asyncio.sleep(0.3)  # a steady stream, not one burst (no timer is waited for)

        async def reader() -> None:
            while not received.is_set():
                view = await orders.status(order)  # raises if it ever fails
                answers.append(view)
                if view.older.get("support_requests", 0) + len(view.support_requests) == count:
                    received.set()

        try:
            await asyncio.gather(customers(), reader(), reader(), reader())
        finally:
            await handle.terminate("test over")
    assert answers[-1].runs >= 5, "the order continued as new while it was read"
    assert len(answers) > 100


async def test_search_attributes_at_every_stage(dev_env: WorkflowEnvironment, orders: OrderClient) -> None:
    order = (await orders.start(start_input())).order_id
    workflow_id = names.workflow_id(order)

    async def listed(query: str, workflow_id: str = workflow_id) -> None:
        full = f"{query} AND WorkflowId = '{workflow_id}'"

        async def found() -> bool:
            return [w.id async for w in dev_env.client.list_workflows(full)] == [workflow_id]

        await poll(found, full)

    async def stage(status: OrderStatus, *more: str) -> None:
        await listed(" AND ".join([f"OrderStatus = '{status}'", *more]))

    try:
        await stage(S.DISCUSSING, "OrderCustomerRef = 'cus-1001'")
        await orders.act(order, IssueConfirmationInput(confirmation=draft()))
        await stage(S.AWAITING_APPROVAL, "OrderNextDeadline IS NOT NULL")
        await orders.act(order, ApproveInput(version=1))
        await stage(S.AWAITING_PAYMENT, "OrderTotal = 4800", "OrderCurrency = 'EUR'", "OrderNextDeadline IS NOT NULL")
        await orders.act(order, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
        await stage(S.IN_PROGRESS, "OrderNextDeadline IS NOT NULL")
        await orders.act(order, DeliverInput(summary="Live"))
        await stage(S.AWAITING_ACCEPTANCE)
        await orders.act(order, RequestRevisionInput(comments="Logo too small"))
        await stage(S.IN_PROGRESS, "OrderRevision = 1")
        await orders.act(order, DeliverInput(summary="Logo fixed"))
        await orders.act(order, AcceptInput())
        await stage(S.IN_SUPPORT, "OrderRevision >= 1")
        assert order in [row.order_id for row in await orders.list(S.IN_SUPPORT)]
    finally:
        await _terminate_if_running(orders, order)

    other = (await orders.start(start_input())).order_id
    await orders.act(other, CancelInput(reason="no budget"))
    await listed("OrderStatus = 'CANCELLED' AND OrderNextDeadline IS NULL", names.workflow_id(other))


async def test_summary_and_details_for_operators(orders: OrderClient) -> None:
    inp = StartOrderInput(
        order_id=new_order_id(),
        customer=Customer(name="Ada Lovelace", email="ada@example.com", company="ACME Ltd", phone="+44 20 7946 0000"),
        message="Website redesign, please. Write to ada@example.com or call +44 20 7946 0000.",
    )
    await orders.start(inp)
    handle = orders.handle(inp.order_id)
    try:
        description = await handle.describe()
        summary = await description.static_summary()
        details = await description.static_details()
        assert (
            summary == f"Order {inp.order_id} for ACME Ltd: Website redesign, please. Write to [email] or call [phone]."
        )
        assert details is not None and "Ada Lovelace, ACME Ltd" in details and "web form" in details
        assert "@" not in summary + details and "7946" not in summary + details

        async def current_details() -> str:
            metadata: WorkflowMetadata = await handle.query(
                "__temporal_workflow_metadata", result_type=WorkflowMetadata
            )
            return metadata.current_details

        await orders.act(inp.order_id, IssueConfirmationInput(confirmation=draft()))
        now = await current_details()
        assert "AWAITING_APPROVAL" in now and "approve confirmation v1" in now
        assert "Next: confirmation v1 reminder at" in now
    finally:
        await _terminate_if_running(orders, inp.order_id)


def test_summary_is_short_and_never_names_the_email() -> None:
    inp = start_input().model_copy(update={"message": "x@y.example " + "word " * 100})
    assert len(order_summary(inp)) < 150 and "@" not in order_summary(inp)
    assert order_summary(inp).endswith("…")
    assert "alice@example.com" not in order_details(inp)


async def test_the_confirmation_email_link_verifies_for_its_order_only(
    orders: OrderClient, link_settings: Settings
) -> None:
    order = (await orders.start(start_input())).order_id
    try:
        await orders.act(order, IssueConfirmationInput(confirmation=draft()))

        def confirmation_email() -> list[str]:
            return [
                str(m.get_body(("plain",)).get_content())  # type: ignore[union-attr]
                for m in outbox(link_settings.outbox_dir)
                if m["X-Order-Id"] == order and m["X-Message-Kind"] == "confirmation_issued"
            ]

        async def sent() -> bool:
            return bool(confirmation_email())

        await poll(sent, "confirmation email in the outbox")
        (url,) = re.findall(r"https://shop\.example\.com/orders/\S+/confirmation/\S+", confirmation_email()[0])
        assert urlsplit(url).path == f"/orders/{order}/confirmation/1"
        token = parse_qs(urlsplit(url).query)["token"][0]
        claims = orders.verify_link(token, order_id=order, action=names.APPROVE, version=1)
        assert (claims.order_id, claims.action, claims.version) == (order, "confirmation", 1)
        view = await orders.status(order)
        expires = view.confirmations[0].issued_at + timedelta(days=14)  # the default expiry
        assert timedelta(0) <= expires - claims.expires_at < timedelta(seconds=1)
        with pytest.raises(WrongOrderLink):
            orders.verify_link(token, order_id=new_order_id())
        assert (await orders.act(order, ApproveInput(version=claims.version or 0))).status is S.AWAITING_PAYMENT
    finally:
        await _terminate_if_running(orders, order)


async def test_current_details_of_a_new_order(orders: OrderClient) -> None:
    order = (await orders.start(start_input())).order_id
    handle = orders.handle(order)
    try:
        await orders.act(order, AddNoteInput(text="a first workflow task has run"))
        metadata: WorkflowMetadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert "staff to issue an order confirmation" in metadata.current_details
    finally:
        await _terminate_if_running(orders, order)


async def test_a_second_attempt_through_a_link_is_not_dropped(orders: OrderClient, link_settings: Settings) -> None:
    """The support link is the same for every request: the form's nonce tells a double click from a second one."""
    order = (await orders.start(start_input())).order_id
    try:
        await orders.act(order, IssueConfirmationInput(confirmation=draft()))
        await orders.act(order, ApproveInput(version=1))
        await orders.act(order, RecordPaymentInput(amount=Decimal("4800.00"), reference="TX-1"))
        await orders.act(order, DeliverInput(summary="Live"))
        await orders.act(order, AcceptInput(round=1))

        def support_links() -> list[str]:
            found: list[str] = []
            for m in outbox(link_settings.outbox_dir):
                body = m.get_body(("plain",))
                if m["X-Order-Id"] == order and m["X-Message-Kind"] == "support_opened" and body is not None:
                    found += re.findall(r"https://shop\.example\.com/orders/\S+/support\S*", str(body.get_content()))
            return found

        async def sent() -> bool:
            return bool(support_links())

        await poll(sent, "the support_opened email with its link")
        (url,) = support_links()
        token = parse_qs(urlsplit(url).query)["token"][0]
        orders.verify_link(token, order_id=order, action=names.REQUEST_SUPPORT)

        async def submit(nonce: str, text: str) -> bool:
            request = SupportRequestInput(subject="Login", text=text, request_id=link_request_id(token, nonce))
            return (await orders.act(order, request)).applied

        first_form, second_form = form_nonce(), form_nonce()
        assert await submit(first_form, "SSO fails in Safari")
        assert not await submit(first_form, "SSO fails in Safari")  # the same form posted twice
        assert await submit(second_form, "And the logo is blurry")  # a second request, from a new page
        texts = [r.text for r in (await orders.status(order)).support_requests]
        assert texts == ["SSO fails in Safari", "And the logo is blurry"]
    finally:
        await _terminate_if_running(orders, order)


def _rpc_error(status: RPCStatusCode, message: str, *details: Message) -> RPCError:
    packed = []
    for detail in details:
        any_detail = AnyProto()
        any_detail.Pack(detail)
        packed.append(any_detail)
    raw = GrpcStatus(code=status.value, message=message, details=packed).SerializeToString()
    return RPCError(message, status, raw)


def test_updates_the_server_aborted_are_told_apart_from_final_errors() -> None:
    """What server 1.32 answers for an update it aborted, each one by its exact code or failure type."""
    busy = ResourceExhaustedFailure(cause=ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_BUSY_WORKFLOW)
    aborted = [
        _rpc_error(
            RPCStatusCode.RESOURCE_EXHAUSTED, "workflow operation can not be applied because workflow is closing", busy
        ),
        _rpc_error(
            RPCStatusCode.FAILED_PRECONDITION,
            "Unable to perform workflow execution update due to unexpected workflow task failure.",
            WorkflowNotReadyFailure(),
        ),
        _rpc_error(RPCStatusCode.UNAVAILABLE, "workflow update was aborted"),
        _rpc_error(RPCStatusCode.NOT_FOUND, "workflow update was aborted by closing workflow"),
        WorkflowUpdateFailedError(
            ApplicationError(
                "Workflow Update is rejected because it wasn't processed by worker.", type="UnprocessedUpdate"
            )
        ),
        WorkflowUpdateFailedError(
            ApplicationError(
                "Workflow Update failed because the Workflow completed before the Update completed.",
                type="AcceptedUpdateCompletedWorkflow",
            )
        ),
    ]
    for error in aborted:
        assert aborted_update(error), error
    rate_limited = ResourceExhaustedFailure(cause=ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT)
    final = [
        _rpc_error(RPCStatusCode.RESOURCE_EXHAUSTED, "namespace rate limit exceeded", rate_limited),
        _rpc_error(RPCStatusCode.UNAVAILABLE, "connection refused"),
        _rpc_error(RPCStatusCode.NOT_FOUND, "workflow execution already completed"),
        _rpc_error(RPCStatusCode.INVALID_ARGUMENT, "bad update name"),
        WorkflowUpdateFailedError(ApplicationError("no confirmation to approve", type="ActionRejected")),
    ]
    for error in final:
        assert aborted_update(error) is None, error


async def test_updates_through_continue_as_new_at_a_small_budget_all_answer(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    """Concurrent updates and a stream of signals through many handovers: every update
    answers with its result, none with an error the server's abort caused (issue 18, 3)."""
    small = replace(settings, policy=OrderPolicy(run_event_budget=200))
    async with make_worker(dev_env.client, small, task_queue):
        orders = OrderClient(dev_env.client, task_queue=task_queue, update_timeout=timedelta(seconds=60))
        order = (await orders.start(start_input())).order_id
        await orders.status(order)  # the policy is loaded

        async def customer() -> None:
            for n in range(600):
                await orders.send_signal(order, names.ADD_NOTE, AddNoteInput(text=f"signal {n}"))
                if n % 10 == 0:
                    await asyncio.sleep(0.05)

        async def staff(who: int) -> None:
            for n in range(40):
                answer = await orders.act(order, AddNoteInput(text=f"staff {who} note {n}"))
                assert answer.applied, answer

        await asyncio.gather(customer(), *(staff(who) for who in range(8)))
        view = await orders.status_in_full(order)
        await orders.handle(order).terminate("test over")
    assert len(view.notes) == 600 + 8 * 40, "every action applied once"


async def test_an_update_temporal_delivers_again_into_the_next_run_answers_applied(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    """Temporal retries an update under the same update id. When the first delivery was
    applied and the order then continued as new, the retry reaches the next run: that is
    still the caller's one update, so it answers ``applied``. Another update that reuses
    the request id is a repeat, and answers ``applied=False``."""
    small = replace(settings, policy=OrderPolicy(run_event_budget=200))
    async with make_worker(dev_env.client, small, task_queue):
        orders = OrderClient(dev_env.client, task_queue=task_queue)
        order = (await orders.start(start_input())).order_id
        await orders.status(order)  # the policy is loaded
        handle = orders.handle(order)
        note = {"text": "from the web form", "request_id": "form-7"}
        first = await handle.execute_update(names.ADD_NOTE, note, id="update-1", result_type=ActionResult)
        first_run = (await handle.describe()).run_id
        for n in range(150):  # past the run's event budget: the order continues as new
            await orders.send_signal(order, names.ADD_NOTE, AddNoteInput(text=f"signal {n}"))

        async def next_run() -> bool:
            return (await handle.describe()).run_id != first_run

        await eventually(next_run, "the order continued as new")
        again = await handle.execute_update(names.ADD_NOTE, note, id="update-1", result_type=ActionResult)
        other = await handle.execute_update(names.ADD_NOTE, note, id="update-2", result_type=ActionResult)
        view = await orders.status_in_full(order)
        await handle.terminate("test over")
    assert first.applied and again.applied, "the same update, delivered again"
    assert not other.applied, "another update with the same request id"
    assert [n.text for n in view.notes].count("from the web form") == 1
