"""Every action as a signal and an update of the same name.

Web backends fire-and-forget a signal, which is durable even while no worker
runs; callers that want the answer now send the update, whose validator
refuses a bad action before it reaches history. Both end in one place,
``ServiceOrderWorkflow._receive``. This mixin only declares the wire
contract, so the process in ``workflows/order.py`` stays readable.

Why one dynamic signal and one dynamic update instead of a typed handler per
action: the SDK routes a message to a named handler whatever it carries, and
decodes its arguments before the handler runs. With no payload it calls the
handler with no argument, with two payloads it drops the type hints and
passes two, a ``binary/plain`` payload arrives as ``bytes``, and an unknown
encoding raises inside the SDK. A signal handler that raises fails its
workflow task, and that task is retried with the same signal forever: one
``temporal workflow signal --name add_note`` without ``--input`` froze an
order for good. Dynamic handlers receive every payload as an undecoded
``RawValue``, so ``_decode`` here sees the raw input and turns anything that
is not exactly one valid model into that action's model carrying
``_decode_error``. The workflow then records it under ``OrderView.rejected``
(a signal) or its validator refuses it (an update), and the order goes on.

Each action still takes exactly one pydantic model: the registry
(``workflows/action_registry.py``) says which, and ``orderclient/contract.py`` publishes the same table as JSON Schema.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar, cast

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.action_registry import ACTION_MODELS, ACTION_NAMES
    from workflows.converter import decode_error, describe_payload, unvalidated
    from workflows.models import (
        Action,
        ActionResult,
        OrderState,
        StartOrderInput,
    )

Via = Literal["signal", "update"]
StartFn = TypeVar("StartFn", bound=Callable[..., Any])
EffectFn = TypeVar("EffectFn", bound=Callable[..., None])

_EFFECT_OF = "__effect_of__"


def effect_of(action: str) -> Callable[[EffectFn], EffectFn]:
    """Mark a workflow method as what ``action`` does once its rules have passed."""

    def mark(method: EffectFn) -> EffectFn:
        setattr(method, _EFFECT_OF, action)
        return method

    return mark


class ActionHandlers:
    """The signal, the update and its validator for every action in ``action_registry.REGISTRY``.

    A subclass marks one method per action with ``@effect_of(name)``; a
    missing or doubled effect stops the class at import, not an order at run time.
    """

    _effect_methods: dict[str, str]
    """The effect method's name, by action name."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, list[str]] = {}
        for attribute, value in vars(cls).items():
            action = getattr(value, _EFFECT_OF, None)
            if action is not None:
                found.setdefault(action, []).append(attribute)
        problems = [f"{a}: {', '.join(m)}" for a, m in found.items() if len(m) > 1]
        problems += [f"{a}: no effect" for a in ACTION_NAMES if a not in found]
        problems += [f"{a}: not an action" for a in found if a not in ACTION_MODELS]
        if problems:
            raise TypeError(f"{cls.__name__} effects do not match the action registry: {'; '.join(problems)}")
        cls._effect_methods = {action: methods[0] for action, methods in found.items()}

    def _apply(self, action: str, request: Action) -> None:
        """Do what the action does; its rules have already passed."""
        getattr(self, self._effect_methods[action])(request)

    def _receive(self, action: str, request: Action, via: Via) -> ActionResult:
        raise NotImplementedError

    def _validate(self, action: str, request: Action) -> None:
        raise NotImplementedError

    def _reject(self, action: str, request: Action, reason: str, via: Via) -> None:
        raise NotImplementedError

    @workflow.signal(dynamic=True)
    def _action_signal(self, name: str, payloads: Sequence[RawValue]) -> None:
        if name not in ACTION_MODELS:
            self._reject(name, Action.model_construct(), _unknown(name), "signal")
            return
        self._receive(name, _decode(name, payloads), "signal")

    @workflow.update(dynamic=True)
    def _action_update(self, name: str, payloads: Sequence[RawValue]) -> ActionResult:
        return self._receive(name, _decode(name, payloads), "update")

    @_action_update.validator
    def _validate_action_update(self, name: str, payloads: Sequence[RawValue]) -> None:
        if name not in ACTION_MODELS:
            raise ApplicationError(_unknown(name), type="ActionRejected", non_retryable=True)
        self._validate(name, _decode(name, payloads))


class Answers:
    """The answers to request ids already applied: a request id names one attempt at one
    action, so the same id on another action (a second card after a decline, from the same
    link) is a new attempt."""

    def __init__(self, state: OrderState) -> None:
        self._state = state

    def repeat(self, action: str, request: Action) -> ActionResult | None:
        """The first answer to an attempt already applied, or None for a new one.

        ``applied`` is False, unless this is the very update that applied it: Temporal
        delivers an update again under its id when an answer was lost (a continue-as-new,
        a server restart), and across runs only the order can tell it is not a new attempt.
        """
        key = _key(action, request)
        if key not in self._state.applied:
            return None
        update = workflow.current_update_info()
        same = update is not None and self._state.applied_by.get(key) == update.id
        return self._state.applied[key].model_copy(update={"applied": same})

    def remember(self, action: str, request: Action, result: ActionResult) -> None:
        """Keep the answer to an attempt with a request id, and which update (if one) applied it."""
        key = _key(action, request)
        if not key:
            return
        self._state.applied[key] = result
        update = workflow.current_update_info()
        if update is not None:
            self._state.applied_by[key] = update.id


def _key(action: str, request: Action) -> str:
    return f"{action}:{request.request_id}" if request.request_id else ""


def _unknown(name: str) -> str:
    return f"unknown action {name!r}; known actions: {', '.join(ACTION_NAMES)}"


def _decode(name: str, payloads: Sequence[RawValue]) -> Action:
    """Exactly one payload that decodes to the action's model, or that model
    unvalidated, with ``_decode_error`` saying what arrived instead."""
    model = ACTION_MODELS[name]
    if len(payloads) != 1:
        return unvalidated(model, None, _count_problem(len(payloads)))
    payload = payloads[0].payload
    try:
        value = workflow.payload_converter().from_payload(payload, model)
    except Exception as error:
        return unvalidated(model, payload, decode_error(payload, error))
    if not isinstance(value, model):  # a converter without the project's leniency
        shown = "null" if value is None else type(value).__name__
        return unvalidated(model, payload, f"{describe_payload(payload)} decoded to {shown}, not an object")
    return value


def _count_problem(count: int) -> str:
    what = "no payload" if count == 0 else f"{count} payloads"
    return f"expected exactly one payload, got {what}"


def one_start_input(fn: StartFn) -> StartFn:
    """Let the workflow's ``__init__`` or ``run`` be called with any number of
    start payloads, and see exactly one ``StartOrderInput``.

    The SDK calls both with as many arguments as the start carried: none, or
    two (then undecoded, because the type hints no longer match), is a
    ``TypeError`` in a workflow task, retried forever. Wrapped, the method
    gets an unvalidated input whose ``_decode_error`` names the count, and the
    run fails with ``InvalidStartInput`` like any other bad start. The wrapper
    keeps the signature (``functools.wraps``) from which the SDK reads the
    type hint, so a single payload still decodes to the model.
    """

    def one(args: tuple[Any, ...]) -> Any:
        if len(args) == 1:
            return args[0]
        return unvalidated(StartOrderInput, None, _count_problem(len(args)))

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_with_any_count(self: Any, *args: Any) -> Any:
            return await fn(self, one(args))

        return cast(StartFn, run_with_any_count)

    @functools.wraps(fn)
    def init_with_any_count(self: Any, *args: Any) -> Any:
        return fn(self, one(args))

    return cast(StartFn, init_with_any_count)
