"""The ``orders`` command line without a server: parsing, payloads, exit codes."""

from __future__ import annotations

import getpass
import json
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from orderclient.contract import ACTION_MODELS, schemas
from starter import cli, order_panel
from starter.action_commands import build_action
from workflows import names
from workflows.action_registry import ACTION_NAMES, REGISTRY, ActionSpec
from workflows.models import (
    AcceptInput,
    AddNoteInput,
    ApproveInput,
    CancelInput,
    DeliverInput,
    ExtendDeadlineInput,
    IssueConfirmationInput,
    PaymentMethod,
    PostUpdateInput,
    RecordPaymentInput,
    RequestChangesInput,
    RequestRevisionInput,
    StartOrderInput,
    SupportRequestInput,
    UpdateCustomerInput,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
UNREACHABLE = ["--address", "127.0.0.1:1"]


def action(*argv: str) -> tuple[str, object]:
    return build_action(cli.parse_args(list(argv)))


def test_every_action_a_person_sends_has_a_command_and_webhook_actions_have_none() -> None:
    assert set(ACTION_MODELS) == set(ACTION_NAMES)
    commands = {spec.name for spec in REGISTRY.values() if spec.command}
    by_people = {spec.name for spec in REGISTRY.values() if spec.senders != {"webhook"}}
    assert commands == by_people
    assert set(ACTION_NAMES) - commands == {names.PAYMENT_FAILED, names.PAYMENT_EVENT}


@pytest.mark.parametrize("spec", [s for s in REGISTRY.values() if s.command], ids=lambda s: s.name)
def test_every_command_argument_is_a_field_of_its_model(spec: ActionSpec, capsys: pytest.CaptureFixture[str]) -> None:
    # A typo in the registry would otherwise only show when someone types the flag.
    assert {arg.field for arg in spec.args} <= set(spec.model.model_fields)
    assert cli.main([str(spec.command), "--help"]) == 0
    assert " ".join(spec.summary.split()) in " ".join(capsys.readouterr().out.split())


def test_note() -> None:
    name, model = action("note", "42", "Called the customer", "--author", "customer")
    assert name == names.ADD_NOTE
    assert isinstance(model, AddNoteInput)
    assert (model.text, model.author) == ("Called the customer", "customer")
    assert model.request_id and len(model.request_id) == 32


def test_request_id_is_fresh_unless_given() -> None:
    _, first = action("accept", "42")
    _, second = action("accept", "42")
    _, fixed = action("accept", "42", "--request-id", "abc")
    assert isinstance(first, AcceptInput) and isinstance(second, AcceptInput) and isinstance(fixed, AcceptInput)
    assert first.request_id != second.request_id
    assert fixed.request_id == "abc"


def test_confirm_reads_the_example_file() -> None:
    name, model = action("confirm", "42", "--file", str(EXAMPLES / "confirmation.json"))
    assert name == names.ISSUE_CONFIRMATION
    assert isinstance(model, IssueConfirmationInput)
    assert model.confirmation.total == Decimal("4800.00")
    assert [m.name for m in model.confirmation.terms.milestones] == ["Design", "Build"]


def test_approve_and_request_changes() -> None:
    name, model = action("approve", "42", "--version", "2")
    assert name == names.APPROVE and isinstance(model, ApproveInput) and model.version == 2
    name, model = action("request-changes", "42", "--version", "1", "Cheaper please")
    assert name == names.REQUEST_CHANGES and isinstance(model, RequestChangesInput)
    assert (model.version, model.comments) == (1, "Cheaper please")


def test_a_customers_decision_from_the_cli_says_who_answered_on_their_behalf() -> None:
    _, approve = action("approve", "42", "--version", "2", "--by", "Jane Staff")
    assert isinstance(approve, ApproveInput) and approve.evidence is not None
    assert (approve.evidence.channel, approve.evidence.by) == ("cli", "Jane Staff")
    _, accept = action("accept", "42")
    assert isinstance(accept, AcceptInput) and accept.evidence is not None
    assert accept.evidence.channel == "cli" and accept.evidence.by == getpass.getuser()
    _, pay = action("pay", "42", "--amount", "5", "--reference", "R")
    assert isinstance(pay, RecordPaymentInput) and "evidence" not in RecordPaymentInput.model_fields


def test_pay() -> None:
    name, model = action("pay", "42", "--amount", "1200.00", "--reference", "SO-42", "--method", "card")
    assert name == names.RECORD_PAYMENT and isinstance(model, RecordPaymentInput)
    assert (model.amount, model.reference, model.method) == (Decimal("1200.00"), "SO-42", PaymentMethod.CARD)
    _, default = action("pay", "42", "--amount", "5", "--reference", "R")
    assert isinstance(default, RecordPaymentInput) and default.method == PaymentMethod.BANK_TRANSFER
    assert default.currency is None  # the order's own
    _, yen = action("pay", "42", "--amount", "100", "--reference", "R", "--currency", "JPY")
    assert isinstance(yen, RecordPaymentInput) and yen.currency == "JPY"


def test_answers_to_a_delivery_name_their_round() -> None:
    _, accept = action("accept", "42", "--round", "2")
    assert isinstance(accept, AcceptInput) and accept.round == 2
    _, revision = action("request-revision", "42", "Logo", "--round", "1")
    assert isinstance(revision, RequestRevisionInput) and revision.round == 1
    _, plain = action("accept", "42")
    assert isinstance(plain, AcceptInput) and plain.round is None


def test_timeout_must_be_a_positive_number_of_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.parse_args(["pay", "42", "--amount", "5", "--reference", "R", "--timeout", "2.5"]).timeout == 2.5
    assert cli.main(["pay", "42", "--amount", "5", "--reference", "R", "--timeout", "0"]) == 2
    assert "--timeout" in capsys.readouterr().err


def test_update_deliver_revision_support_cancel() -> None:
    name, model = action("update", "42", "Design done", "--milestone", "Design")
    assert name == names.POST_UPDATE and isinstance(model, PostUpdateInput) and model.milestone == "Design"
    name, model = action(
        "deliver", "42", "Site is live", "--link", "https://a.example", "--link", "https://b.example", "--access", "pw"
    )
    assert name == names.DELIVER and isinstance(model, DeliverInput)
    assert model.links == ["https://a.example", "https://b.example"] and model.access_instructions == "pw"
    name, model = action("request-revision", "42", "Logo is too small")
    assert name == names.REQUEST_REVISION and isinstance(model, RequestRevisionInput)
    name, model = action("support", "42", "Login broken", "Cannot log in since today")
    assert name == names.REQUEST_SUPPORT and isinstance(model, SupportRequestInput)
    assert model.subject == "Login broken"
    name, model = action("cancel", "42", "Changed plans", "--by", "customer")
    assert name == names.CANCEL and isinstance(model, CancelInput) and model.by == "customer"


def test_extend_deadline() -> None:
    name, model = action("extend-deadline", "42", "milestone", "--milestone", "Build", "--by", "P7D")
    assert name == names.EXTEND_DEADLINE and isinstance(model, ExtendDeadlineInput)
    assert (model.target, model.milestone, model.extend_by) == ("milestone", "Build", timedelta(days=7))
    _, model = action("extend-deadline", "42", "payment_due", "--to", "2030-01-31T17:00:00+01:00")
    assert isinstance(model, ExtendDeadlineInput) and model.new_due_at is not None


def test_update_customer() -> None:
    name, model = action("update-customer", "42", "--email", "ada@new.example")
    assert name == names.UPDATE_CUSTOMER and isinstance(model, UpdateCustomerInput)
    assert model.email == "ada@new.example" and model.name is None


def test_signal_and_connection_flags() -> None:
    args = cli.parse_args(["accept", "42", "--signal", "--address", "h:1", "--namespace", "ns", "--json"])
    assert (args.signal, args.address, args.namespace, args.json) == (True, "h:1", "ns", True)
    before = cli.parse_args(["--address", "h:2", "status", "42"])
    assert before.address == "h:2"


def test_start_from_flags_generates_an_order_id() -> None:
    args = cli.parse_args(["start", "--name", "Ada", "--email", "ada@example.com", "--message", "Hello"])
    inp = cli.build_start(args)
    assert isinstance(inp, StartOrderInput)
    assert inp.order_id.startswith(time.strftime("%Y%m%d") + "-") and len(inp.order_id) == 15
    assert inp.customer.name == "Ada" and inp.channel == "web_form"


def test_start_from_file() -> None:
    args = cli.parse_args(["start", "--file", str(EXAMPLES / "request.json"), "--order-id", "A-1"])
    inp = cli.build_start(args)
    assert inp.order_id == "A-1"
    assert inp.customer.company == "Analytical Engines Ltd"


def test_start_without_message_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["start", "--name", "Ada", "--email", "ada@example.com"]) == 2
    assert "--message" in capsys.readouterr().err


def test_bad_confirmation_exits_2_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = json.loads((EXAMPLES / "confirmation.json").read_text())
    bad["line_items"][0]["unit_price"] = "-5"
    path = tmp_path / "confirmation.json"
    path.write_text(json.dumps(bad))
    assert cli.main(["confirm", "42", "--file", str(path), *UNREACHABLE]) == 2
    err = capsys.readouterr().err
    assert "line_items.0.unit_price" in err
    assert "greater than or equal to 0" in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "cannot read"), ("{not json", "invalid JSON"), ('{"title": "x"}', "line_items: Field required")],
)
def test_unusable_confirmation_files_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, expected: str
) -> None:
    path = tmp_path / "c.json"
    if content is not None:
        path.write_text(content)
    assert cli.main(["confirm", "42", "--file", str(path), *UNREACHABLE]) == 2
    assert expected in capsys.readouterr().err


def test_bad_flag_value_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["pay", "42", "--amount", "-1", "--reference", "R", *UNREACHABLE]) == 2
    assert "amount" in capsys.readouterr().err
    assert cli.main(["approve", "42", "--version", "two"]) == 2


def test_unknown_status_filter_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list", "--status", "NOPE", *UNREACHABLE]) == 2
    assert "DISCUSSING" in capsys.readouterr().err


def test_list_query() -> None:
    assert cli.list_query(None) == "WorkflowType = 'ServiceOrderWorkflow'"
    assert cli.list_query("in_progress") == "WorkflowType = 'ServiceOrderWorkflow' AND OrderStatus = 'IN_PROGRESS'"


def test_schema_prints_every_payload(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(ACTION_NAMES) <= set(printed)
    assert {"start", "status", "action_result"} <= set(printed)
    assert printed == json.loads(json.dumps(schemas()))
    assert "amount" in printed[names.RECORD_PAYMENT]["properties"]


def test_schema_out_writes_files(tmp_path: Path) -> None:
    assert cli.main(["schema", "--out", str(tmp_path / "schemas")]) == 0
    written = {p.stem for p in (tmp_path / "schemas").glob("*.json")}
    assert written == set(schemas())


@pytest.mark.parametrize(
    "argv",
    [["status", "42"], ["accept", "42"], ["start", "--file", str(EXAMPLES / "request.json")], ["list"]],
)
def test_unreachable_server_exits_4_quickly(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    began = time.monotonic()
    assert cli.main([*argv, *UNREACHABLE]) == 4
    assert time.monotonic() - began < cli.CONNECT_TIMEOUT + 2
    err = capsys.readouterr().err
    assert "cannot reach Temporal at 127.0.0.1:1" in err
    assert "orders dev" in err
    assert "Traceback" not in err


def test_card() -> None:
    name, model = action("card", "42", "--customer", "cus_123", "--payment-method", "pm_card_visa")
    assert name == names.PROVIDE_PAYMENT_METHOD
    assert (model.stripe_customer_id, model.payment_method_id) == ("cus_123", "pm_card_visa")  # type: ignore[attr-defined]


def test_card_ids_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["card", "42", "--customer", "alice", "--payment-method", "pm_1"]) == 2
    assert "stripe_customer_id" in capsys.readouterr().err


def _outbox(tmp_path: Path) -> Path:
    from activities.email import OutboxBackend
    from activities.outgoing import OutgoingEmail

    backend = OutboxBackend(tmp_path)
    for n, (order, kind) in enumerate([("42", "contact_ack"), ("43", "contact_ack"), ("42", "payment_requested")], 1):
        backend.send(
            OutgoingEmail(
                order_id=order,
                kind=kind,
                message_key=f"order-{order}:email:{n}:{kind}",
                to_email="ada@example.com",
                to_name="Ada",
                from_email="orders@example.com",
                from_name="Orders",
                reply_to=None,
                subject=f"Order {order}: {kind}",
                text=f"Hello Ada, this is {kind}.",
                html=f"<p>Hello Ada, this is {kind}.</p>",
            )
        )
    return tmp_path


def test_outbox_lists_and_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outbox = _outbox(tmp_path)
    assert cli.main(["outbox", "--dir", str(outbox), "--order", "42", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["n"], r["order_id"], r["kind"]) for r in rows] == [
        (1, "42", "contact_ack"),
        (2, "42", "payment_requested"),
    ]


def test_outbox_show_prints_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outbox = _outbox(tmp_path)
    assert cli.main(["outbox", "show", "2", "--dir", str(outbox), "--kind", "contact_ack"]) == 0
    shown = capsys.readouterr().out
    assert "Order 43: contact_ack" in shown and "Hello Ada, this is contact_ack." in shown
    assert cli.main(["outbox", "show", "9", "--dir", str(outbox)]) == 2


def test_status_view_shows_card_charges_and_failed_emails() -> None:
    from datetime import UTC, datetime

    from rich.console import Console

    from workflows.models import ChargeAttempt, Customer, FailedEmail, OrderView

    now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    view = OrderView(
        order_id="42",
        status="AWAITING_PAYMENT",
        customer=Customer(name="Ada", email="ada@example.com"),
        channel="web_form",
        created_at=now,
        first_message="hi",
        charge_attempts=[ChargeAttempt(at=now, attempt=1, status="declined", message="Insufficient funds.")],
        failed_emails=[
            FailedEmail(at=now, kind="contact_ack", audience="customer", message_key="k", error="bad address")
        ],
    )
    console = Console(width=120, record=True)
    console.print(order_panel.render_view(view))
    shown = console.export_text()
    assert "Card charges" in shown and "Insufficient funds." in shown
    assert "could not be sent" in shown and "bad address" in shown
