"""The payload of every action, as JSON Schema: what a web backend must send.

``orders schema`` prints these; integrations validate against them before
signalling an order, so a bad payload never reaches a running workflow.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel

from workflows.action_registry import ACTION_MODELS
from workflows.models import ActionResult, OrderView, StartOrderInput

__all__ = ["ACTION_MODELS", "schemas"]

START: Final = "start"
STATUS: Final = "status"
ACTION_RESULT: Final = "action_result"


def _inputs() -> dict[str, type[BaseModel]]:
    return {START: StartOrderInput, **ACTION_MODELS}


def schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every payload: inputs as accepted, outputs as sent."""
    result = {name: model.model_json_schema(mode="validation") for name, model in _inputs().items()}
    result[STATUS] = OrderView.model_json_schema(mode="serialization")
    result[ACTION_RESULT] = ActionResult.model_json_schema(mode="serialization")
    return result
