"""The payload of every action, as JSON Schema: what a web backend must send.

``orders schema`` prints these; integrations validate against them before
signalling an order, so a bad payload never reaches a running workflow.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel

from workflows import names
from workflows.models import (
    AcceptInput,
    Action,
    ActionResult,
    AddNoteInput,
    ApproveInput,
    CancelInput,
    DeliverInput,
    ExtendDeadlineInput,
    IssueConfirmationInput,
    OrderView,
    PaymentEventInput,
    PaymentFailedInput,
    PostUpdateInput,
    ProvidePaymentMethodInput,
    RecordPaymentInput,
    RequestChangesInput,
    RequestRevisionInput,
    StartOrderInput,
    SupportRequestInput,
    UpdateCustomerInput,
)

ACTION_MODELS: Final[dict[str, type[Action]]] = {
    names.ADD_NOTE: AddNoteInput,
    names.UPDATE_CUSTOMER: UpdateCustomerInput,
    names.ISSUE_CONFIRMATION: IssueConfirmationInput,
    names.APPROVE: ApproveInput,
    names.REQUEST_CHANGES: RequestChangesInput,
    names.RECORD_PAYMENT: RecordPaymentInput,
    names.POST_UPDATE: PostUpdateInput,
    names.DELIVER: DeliverInput,
    names.ACCEPT: AcceptInput,
    names.REQUEST_REVISION: RequestRevisionInput,
    names.REQUEST_SUPPORT: SupportRequestInput,
    names.CANCEL: CancelInput,
    names.PROVIDE_PAYMENT_METHOD: ProvidePaymentMethodInput,
    names.PAYMENT_FAILED: PaymentFailedInput,
    names.PAYMENT_EVENT: PaymentEventInput,
    names.EXTEND_DEADLINE: ExtendDeadlineInput,
}

START: Final = "start"
STATUS: Final = "status"
ACTION_RESULT: Final = "action_result"


def _inputs() -> dict[str, type[BaseModel]]:
    return {START: StartOrderInput, **{name: ACTION_MODELS[name] for name in names.ACTIONS}}


def schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every payload: inputs as accepted, outputs as sent."""
    result = {name: model.model_json_schema(mode="validation") for name, model in _inputs().items()}
    result[STATUS] = OrderView.model_json_schema(mode="serialization")
    result[ACTION_RESULT] = ActionResult.model_json_schema(mode="serialization")
    return result
