"""The language-neutral contract: the schemas ``orders schema --out`` writes are the models'."""

from __future__ import annotations

import json
from pathlib import Path

from orderclient.contract import ACTION_MODELS, ACTION_RESULT, START, STATUS
from starter import cli
from workflows.action_registry import ACTION_NAMES
from workflows.models import ActionResult, OrderView, StartOrderInput


def test_written_schemas_are_the_models_schemas(tmp_path: Path) -> None:
    assert cli.main(["schema", "--out", str(tmp_path)]) == 0
    written = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in tmp_path.glob("*.json")}

    assert set(ACTION_NAMES) <= set(written), "every action has a schema"
    for name in ACTION_NAMES:
        assert written[name] == ACTION_MODELS[name].model_json_schema(mode="validation"), name
    assert written[START] == StartOrderInput.model_json_schema(mode="validation")
    assert written[STATUS] == OrderView.model_json_schema(mode="serialization")
    assert written[ACTION_RESULT] == ActionResult.model_json_schema(mode="serialization")
    assert set(written) == {*ACTION_NAMES, START, STATUS, ACTION_RESULT}


def test_every_action_schema_carries_a_request_id_and_forbids_unknown_fields(tmp_path: Path) -> None:
    assert cli.main(["schema", "--out", str(tmp_path)]) == 0
    for name in ACTION_NAMES:
        schema = json.loads((tmp_path / f"{name}.json").read_text(encoding="utf-8"))
        assert "request_id" in schema["properties"], name
        assert schema.get("additionalProperties") is False, name
