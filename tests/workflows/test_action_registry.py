"""The action registry: each action declared once, and every part that derives from it agrees."""

from __future__ import annotations

import pytest

from ordersecurity.links import LINK_ACTIONS
from workflows import names
from workflows.action_registry import (
    ACTION_NAMES,
    REGISTRY,
    ActionSpec,
    _specs,
    link_actions,
    spec_of,
)
from workflows.handlers import ActionHandlers, effect_of
from workflows.models import AddNoteInput, ApproveInput, OrderStatus
from workflows.order import ServiceOrderWorkflow


def test_the_wire_names_never_change() -> None:
    # Renaming one breaks running orders and other people's integrations.
    assert ACTION_NAMES == (
        "add_note",
        "update_customer",
        "issue_confirmation",
        "approve",
        "request_changes",
        "record_payment",
        "post_update",
        "deliver",
        "accept",
        "request_revision",
        "request_support",
        "cancel",
        "provide_payment_method",
        "payment_failed",
        "payment_event",
        "extend_deadline",
    )


def test_a_name_model_or_command_declared_twice_is_refused_at_import() -> None:
    note = REGISTRY[names.ADD_NOTE]
    with pytest.raises(ValueError, match="the same name is declared for two actions: add_note"):
        _specs(note, note)
    with pytest.raises(ValueError, match="the same model is declared for two actions: AddNoteInput"):
        _specs(note, ActionSpec("other", AddNoteInput, note.stages, note.senders, "x"))
    with pytest.raises(ValueError, match="the same command is declared for two actions: note"):
        _specs(note, ActionSpec("other", ApproveInput, note.stages, note.senders, "x", command="note"))


def test_a_model_names_its_action() -> None:
    assert spec_of(ApproveInput(version=1)).name == names.APPROVE
    with pytest.raises(TypeError, match="not the payload of any action"):
        spec_of(object())  # type: ignore[arg-type]


def test_signed_links_offer_exactly_the_registrys_link_actions() -> None:
    for spec in REGISTRY.values():
        if spec.link_page is not None:
            assert spec.link_page in LINK_ACTIONS and spec.name in LINK_ACTIONS[spec.link_page], spec.name
            assert "customer" in spec.senders, f"{spec.name}: a link acts for the customer"
    assert link_actions("confirmation") == {names.APPROVE, names.REQUEST_CHANGES}


def test_no_action_arrives_in_a_closed_order_except_money() -> None:
    # Money is never refused: what cannot be counted is held and reported.
    late = {spec.name for spec in REGISTRY.values() if any(s.is_final for s in spec.stages)}
    assert late == {names.RECORD_PAYMENT, names.PAYMENT_EVENT}
    assert all(spec.stages for spec in REGISTRY.values())
    assert OrderStatus.COMPLETED not in REGISTRY[names.CANCEL].stages


def test_the_order_workflow_has_one_effect_per_action() -> None:
    assert set(ServiceOrderWorkflow._effect_methods) == set(ACTION_NAMES)


def test_a_workflow_missing_an_effect_or_with_two_does_not_load() -> None:
    with pytest.raises(TypeError, match=r"no effect") as missing:

        class Incomplete(ActionHandlers):
            @effect_of(names.ADD_NOTE)
            def _note(self, request: AddNoteInput) -> None: ...

    assert "approve: no effect" in str(missing.value)
    with pytest.raises(TypeError, match=r"add_note: _one, _two"):

        class Twice(ActionHandlers):
            @effect_of(names.ADD_NOTE)
            def _one(self, request: AddNoteInput) -> None: ...

            @effect_of(names.ADD_NOTE)
            def _two(self, request: AddNoteInput) -> None: ...
