"""One ``orders`` subcommand per action, built from the action registry.

Each ``ActionSpec`` with a ``command`` becomes a subcommand taking the order id
and its ``args``; ``build_action`` turns the parsed arguments back into the
action's model. Nothing here names an action: a new registry entry is a new
subcommand.
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from starter.console import read_json, validate
from workflows.action_registry import BY_COMMAND, REGISTRY, ActionSpec, Arg
from workflows.models import Action

DECIDES = "evidence"
"""The field of a customer's decision (approve, request changes, accept, request a revision) that says who made it."""


def add_action_parsers(
    sub: Any, parents: list[argparse.ArgumentParser], handler: Callable[[argparse.Namespace], Any]
) -> None:
    """A subcommand for every action the registry gives a command."""
    for spec in REGISTRY.values():
        if spec.command is None:
            continue
        parser: argparse.ArgumentParser = sub.add_parser(
            spec.command, parents=parents, help=spec.summary, description=spec.summary
        )
        parser.add_argument("order_id", metavar="ID", help="order id")
        parser.set_defaults(handler=handler)
        _add_args(parser, spec.args)
        if DECIDES in spec.model.model_fields:
            parser.add_argument(
                "--by",
                dest="on_behalf_by",
                metavar="NAME",
                help="who answers on the customer's behalf, kept with the decision (default: your user name)",
            )


def _add_args(parser: argparse.ArgumentParser, args: tuple[Arg, ...]) -> None:
    groups: dict[str, Any] = {}
    for arg in args:
        target: Any = parser
        if arg.one_of is not None:
            if arg.one_of not in groups:
                groups[arg.one_of] = parser.add_mutually_exclusive_group(required=True)
            target = groups[arg.one_of]
        options: dict[str, Any] = {"help": arg.help or None}
        if arg.integer:
            options["type"] = int
        if arg.choices:
            options["choices"] = list(arg.choices)
        if arg.flag is None:
            target.add_argument(arg.field, metavar=arg.field.upper(), **options)
            continue
        if arg.repeat:
            options["action"] = "append"
        # The flag names the value in the help (``--by BY``), whatever the field is called.
        if not arg.choices:
            options["metavar"] = arg.flag.removeprefix("--").upper().replace("-", "_")
        target.add_argument(arg.flag, dest=arg.field, default=None, required=arg.required, **options)


def build_action(args: argparse.Namespace) -> tuple[str, Action]:
    """The action name and its validated payload for an action command."""
    spec = BY_COMMAND[args.command]
    data: dict[str, Any] = {"request_id": args.request_id}
    for arg in spec.args:
        value = getattr(args, arg.field)
        if value is None:
            continue  # left out: the model's default applies
        data[arg.field] = _from_file(spec, arg, value) if arg.from_file else value
    if DECIDES in spec.model.model_fields:
        # A customer's decision sent from a terminal is staff's, on the customer's behalf: the evidence says so.
        data[DECIDES] = {"channel": "cli", "by": args.on_behalf_by or getpass.getuser()}
    return spec.name, validate(spec.model, data)


def _from_file(spec: ActionSpec, arg: Arg, path: str) -> Any:
    """A field given as a JSON file, checked against the field's own model so errors name the file."""
    data = read_json(path)
    annotation = spec.model.model_fields[arg.field].annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return validate(annotation, data, path)
    return data  # the action's model checks it
