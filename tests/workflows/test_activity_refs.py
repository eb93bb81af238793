"""The workflow calls its activities by reference, never by a string name.

A reference (workflows/activity_refs.py) carries the activity's name, input
and result type, so mypy checks each call; the worker's activities subclass the
references, so mypy also checks that they keep the same signatures. These tests
hold the rest: every activity the worker registers has a reference of the same
name, and no workflow module calls an activity by a string.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

from temporalio import activity

import worker
from activities.config import Settings
from workflows import activity_refs

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
REFS = (
    activity_refs.PolicyRefs,
    activity_refs.EmailRefs,
    activity_refs.PaymentRefs,
    activity_refs.SupportRefs,
    activity_refs.CertificateRefs,
    activity_refs.ErasureRefs,
)
CALLS = {"execute_activity", "start_activity", "execute_local_activity", "start_local_activity"}


def _name(fn: Any) -> str:
    definition = activity._Definition.from_callable(fn)
    assert definition is not None and definition.name is not None, fn
    return definition.name


def _references() -> dict[str, Any]:
    return {_name(fn): fn for ref in REFS for _, fn in inspect.getmembers(ref, inspect.isfunction)}


def test_every_registered_activity_has_a_reference_of_the_same_name_and_shape() -> None:
    references = _references()
    for registered in worker.activities_for(Settings.from_env({})):
        name = _name(registered)
        assert name in references, f"{name} has no reference in workflows/activity_refs.py"
        reference = references[name]
        implementation = registered.__func__
        assert issubclass(type(registered.__self__), _owner(reference)), name
        assert implementation.__name__ == reference.__name__
        assert inspect.signature(implementation) == inspect.signature(reference), name
    assert len(references) == len(worker.activities_for(Settings.from_env({})))


def _owner(reference: Any) -> type:
    return next(ref for ref in REFS if getattr(ref, reference.__name__, None) is reference)


def test_no_workflow_calls_an_activity_by_a_string_name() -> None:
    by_string: list[str] = []
    for path in sorted(WORKFLOWS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CALLS:
                by_string.append(f"{path.name}:{node.lineno} {node.func.attr}")
    assert by_string == [], "call activities with execute_activity_method and a reference: " + ", ".join(by_string)
