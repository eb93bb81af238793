"""What every ``orders`` command shares: its consoles, exit codes and payload checks."""

from __future__ import annotations

import json
from enum import IntEnum
from pathlib import Path
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError
from rich.console import Console

from orderclient.client import UPDATE_TIMEOUT
from workflows.converter import describe

DEFAULT_UPDATE_SECONDS: Final = UPDATE_TIMEOUT.total_seconds()

out = Console()
err = Console(stderr=True)

M = TypeVar("M", bound=BaseModel)


class Exit(IntEnum):
    OK = 0
    REJECTED = 1
    USAGE = 2
    UNKNOWN_ORDER = 3
    UNREACHABLE = 4
    NO_WORKER = 5


class CliError(Exception):
    """A failure with a message for the user and the exit code that goes with it."""

    def __init__(self, code: Exit, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def validate(model: type[M], data: Any, source: str = "") -> M:
    """Validate or fail with exit code 2 and one line per bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        prefix = f"{source}: " if source else ""
        raise CliError(Exit.USAGE, f"{prefix}invalid {model.__name__}: {describe(error)}") from None


def read_json(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CliError(Exit.USAGE, f"cannot read {path}: {error.strerror or error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise CliError(Exit.USAGE, f"{path}: invalid JSON at {where}: {error.msg}") from None


def print_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))
