"""The payment schedule in a confirmation's terms: its contract, its validation and
the instalment amounts (issue 20, first step). Billing by instalment comes later;
until then the workflow refuses a schedule (tests/workflows/test_actions.py)."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from starter import cli
from workflows.converter import describe
from workflows.email_contexts import confirmation_data
from workflows.models import Confirmation, ConfirmationDraft, Terms
from workflows.schedule import instalment_amounts, minor_unit

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE = EXAMPLES / "confirmation.json"


def errors_of(model: type[BaseModel], data: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return describe(caught.value)


def with_schedule(*instalments: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The example confirmation (EUR 4,800, milestones Design and Build) with this schedule."""
    data: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    data.update(changes)
    data["terms"]["payment_schedule"] = list(instalments)
    return data


DEPOSIT = {"name": "Deposit", "percent": "30", "due": "approval"}
DESIGN = {"name": "Design", "percent": "40", "due": "milestone:Design"}
HANDOVER = {"name": "Handover", "percent": "30", "due": "acceptance"}


# --------------------------------------------------------------------------
# What passes
# --------------------------------------------------------------------------


def test_the_example_with_a_schedule_validates() -> None:
    data = json.loads((EXAMPLES / "confirmation-with-schedule.json").read_text(encoding="utf-8"))
    draft = ConfirmationDraft.model_validate(data)
    schedule = draft.terms.payment_schedule
    assert schedule is not None
    assert [(i.name, i.percent, i.due) for i in schedule] == [
        ("Deposit", Decimal("30"), "approval"),
        ("Design", Decimal("40"), "milestone:Design"),
        ("Handover", Decimal("30"), "acceptance"),
    ]
    assert instalment_amounts(draft.total, draft.currency, schedule) == [
        Decimal("1440.00"),
        Decimal("1920.00"),
        Decimal("1440.00"),
    ]


@pytest.mark.parametrize("due", ["approval", "delivery", "acceptance", "milestone:Design", "milestone:build", "P30D"])
def test_every_form_of_due_passes(due: str) -> None:
    data = with_schedule({"name": "All", "percent": "100", "due": due})
    assert ConfirmationDraft.model_validate(data).terms.payment_schedule is not None


def test_amounts_that_add_up_to_the_total_pass() -> None:
    data = with_schedule(
        {"name": "Deposit", "amount": "1000", "due": "approval"},
        {"name": "Rest", "amount": "3800.00", "due": "P30D"},
    )
    schedule = ConfirmationDraft.model_validate(data).terms.payment_schedule
    assert schedule is not None and [i.amount for i in schedule] == [Decimal("1000.00"), Decimal("3800.00")]


def test_without_a_schedule_the_json_is_as_before() -> None:
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    draft = ConfirmationDraft.model_validate(data)
    assert draft.terms.payment_schedule is None
    assert "payment_schedule" not in draft.model_dump(mode="json")["terms"]
    assert "payment_schedule" not in Terms().model_dump()
    assert "payment_schedule" not in json.loads(draft.model_dump_json())["terms"]


def test_a_schedule_survives_the_round_trip_into_an_issued_confirmation() -> None:
    draft = ConfirmationDraft.model_validate(with_schedule(DEPOSIT, DESIGN, HANDOVER))
    issued = Confirmation(**draft.model_dump(), version=1, issued_at="2026-12-01T10:00:00Z", amount_total=draft.total)
    again = Confirmation.model_validate_json(issued.model_dump_json())
    assert again.terms.payment_schedule == draft.terms.payment_schedule


def test_the_schema_describes_the_schedule(tmp_path: Path) -> None:
    assert cli.main(["schema", "--out", str(tmp_path)]) == 0
    schema = json.loads((tmp_path / "issue_confirmation.json").read_text(encoding="utf-8"))
    instalment = schema["$defs"]["Instalment"]
    assert set(instalment["properties"]) == {"name", "percent", "amount", "due"}
    assert "payment_schedule" in schema["$defs"]["Terms"]["properties"]


# --------------------------------------------------------------------------
# What is refused, naming the field
# --------------------------------------------------------------------------


def test_percents_that_do_not_add_up_are_refused() -> None:
    text = errors_of(ConfirmationDraft, with_schedule(DEPOSIT, DESIGN, {**HANDOVER, "percent": "20"}))
    assert text == "terms.payment_schedule: the percents add up to 90, not 100", text


def test_amounts_that_do_not_add_up_are_refused() -> None:
    data = with_schedule(
        {"name": "Deposit", "amount": "1000", "due": "approval"},
        {"name": "Rest", "amount": "3000", "due": "acceptance"},
    )
    text = errors_of(ConfirmationDraft, data)
    assert text == "terms.payment_schedule: the amounts add up to 4000.00, not the total 4800.00", text


def test_a_mix_of_percents_and_amounts_is_refused() -> None:
    text = errors_of(ConfirmationDraft, with_schedule(DEPOSIT, {"name": "Rest", "amount": "3360", "due": "delivery"}))
    assert text.startswith("terms.payment_schedule: ") and "a mix" in text and "'Rest'" in text, text


@pytest.mark.parametrize(
    ("instalment", "words"),
    [
        ({"name": "Both", "percent": "100", "amount": "4800", "due": "approval"}, "both a percent and an amount"),
        ({"name": "Neither", "due": "approval"}, "neither a percent nor an amount"),
    ],
)
def test_exactly_one_of_percent_and_amount(instalment: dict[str, Any], words: str) -> None:
    text = errors_of(ConfirmationDraft, with_schedule(instalment))
    assert text.startswith("terms.payment_schedule.0: ") and words in text and instalment["name"] in text, text


@pytest.mark.parametrize("amount", ["0", "-100"])
def test_an_amount_must_be_above_zero(amount: str) -> None:
    data = with_schedule({"name": "Deposit", "amount": amount, "due": "approval"})
    text = errors_of(ConfirmationDraft, data)
    assert text.startswith("terms.payment_schedule.0.amount: ") and "greater than 0" in text, text


@pytest.mark.parametrize("percent", ["0", "-10", "100.5", "12.345"])
def test_a_percent_must_be_a_share(percent: str) -> None:
    text = errors_of(ConfirmationDraft, with_schedule({"name": "Deposit", "percent": percent, "due": "approval"}))
    assert text.startswith("terms.payment_schedule.0.percent: "), text


def test_an_unknown_milestone_is_refused_listing_the_known_ones() -> None:
    text = errors_of(ConfirmationDraft, with_schedule(DEPOSIT, {**DESIGN, "due": "milestone:Desing"}, HANDOVER))
    assert text == (
        "terms.payment_schedule.1.due: instalment 'Design' is due on milestone 'Desing', "
        "which these terms do not have; milestones: Design, Build"
    ), text


@pytest.mark.parametrize(
    ("due", "words"),
    [
        ("monthly", "not a time an instalment can fall due"),
        ("milestone:", "names no milestone"),
        ("P0D", "longer than zero"),
        ("P20Y", "at most ten years"),
        ("Pxyz", "not an ISO 8601 duration"),
    ],
)
def test_a_bad_due_is_refused_naming_the_instalment(due: str, words: str) -> None:
    text = errors_of(ConfirmationDraft, with_schedule({"name": "All", "percent": "100", "due": due}))
    assert text.startswith("terms.payment_schedule.0.due: ") and words in text, text


@pytest.mark.parametrize("second", ["Deposit", " deposit ", "DEPOSIT"])
def test_instalment_names_differ(second: str) -> None:
    text = errors_of(ConfirmationDraft, with_schedule(DEPOSIT, {"name": second, "percent": "70", "due": "delivery"}))
    assert text.startswith("terms.payment_schedule: ") and "'Deposit'" in text, text


def test_an_empty_or_endless_schedule_is_refused() -> None:
    assert errors_of(ConfirmationDraft, with_schedule()).startswith("terms.payment_schedule: ")
    many = [{"name": f"Part {n}", "percent": "4", "due": "approval"} for n in range(25)]
    assert errors_of(ConfirmationDraft, with_schedule(*many)).startswith("terms.payment_schedule: ")


def test_an_amount_the_currency_cannot_carry_is_refused() -> None:
    data = with_schedule(
        {"name": "Deposit", "amount": "1000.50", "due": "approval"},
        {"name": "Rest", "amount": "3799.50", "due": "delivery"},
        currency="JPY",
    )
    text = errors_of(ConfirmationDraft, data)
    assert text.startswith("terms.payment_schedule.0.amount: JPY 1000.50 cannot be charged"), text


def test_a_percent_that_comes_to_nothing_is_refused() -> None:
    data = with_schedule(
        {"name": "Token", "percent": "0.01", "due": "approval"},
        {"name": "Rest", "percent": "99.99", "due": "delivery"},
        currency="JPY",
        line_items=[{"description": "Work", "unit_price": "100"}],
    )
    text = errors_of(ConfirmationDraft, data)
    assert text == "terms.payment_schedule.0.percent: instalment 'Token' comes to JPY 0; raise its percent", text


# --------------------------------------------------------------------------
# The amounts: rounded to the currency's smallest unit, the last takes the rest
# --------------------------------------------------------------------------

TOTALS = ["0.01", "1.00", "9.99", "100.00", "100.01", "333.33", "4800.00", "12345.67", "999999999999.99"]
WHOLE_TOTALS = ["1", "7", "100", "1001", "123457", "999999999999"]
PERCENT_SCHEDULES = [
    ["100"],
    ["30", "40", "30"],
    ["33.33", "33.33", "33.34"],
    ["0.01", "99.99"],
    ["99.99", "0.01"],
    ["12.5", "12.5", "25", "50"],
    ["4.17"] * 23 + ["4.09"],
]


def _terms(percents: list[str]) -> Terms:
    return Terms.model_validate(
        {"payment_schedule": [{"name": f"Part {n}", "percent": p, "due": "approval"} for n, p in enumerate(percents)]}
    )


@pytest.mark.parametrize("percents", PERCENT_SCHEDULES, ids=lambda p: "+".join(p[:3]))
@pytest.mark.parametrize(
    ("currency", "totals"),
    [("EUR", TOTALS), ("KWD", TOTALS), ("JPY", WHOLE_TOTALS), ("ISK", WHOLE_TOTALS)],
)
def test_the_amounts_always_add_up_to_the_total(currency: str, totals: list[str], percents: list[str]) -> None:
    schedule = _terms(percents).payment_schedule
    assert schedule is not None
    step = minor_unit(currency)
    for text in totals:
        total = Decimal(text)
        amounts = instalment_amounts(total, currency, schedule)
        assert len(amounts) == len(schedule)
        assert sum(amounts, Decimal(0)) == total, (currency, total, amounts)
        assert all(a >= 0 for a in amounts), (currency, total, amounts)
        assert all(a % step == 0 for a in amounts), (currency, total, amounts)
        for amount, instalment in zip(amounts[:-1], schedule[:-1], strict=True):
            exact = total * (instalment.percent or 0) / 100
            assert exact - step < amount <= exact, (currency, total, amount, exact)


@pytest.mark.parametrize("currency", ["EUR", "JPY", "KWD", "BHD", "ISK", "USD"])
def test_random_schedules_always_add_up(currency: str) -> None:
    """Property-style: many seeded random totals and percent schedules, every invariant each time."""
    rng = random.Random(f"schedule-{currency}")
    step = minor_unit(currency)
    for _ in range(300):
        cuts = sorted(rng.sample(range(1, 10_000), rng.randint(0, 10)))
        hundredths = [b - a for a, b in zip([0, *cuts], [*cuts, 10_000], strict=True)]
        schedule = _terms([str(Decimal(h) / 100) for h in hundredths]).payment_schedule
        assert schedule is not None
        total = Decimal(rng.randint(0, 10 ** rng.randint(1, 12))) * step
        amounts = instalment_amounts(total, currency, schedule)
        assert sum(amounts, Decimal(0)) == total
        assert all(a >= 0 and a % step == 0 for a in amounts), amounts
        assert amounts == instalment_amounts(total, currency, schedule), "deterministic"


def test_the_minor_unit_follows_what_the_currency_can_be_charged_in() -> None:
    assert minor_unit("EUR") == Decimal("0.01")
    assert minor_unit("JPY") == Decimal(1)
    assert minor_unit("ISK") == Decimal(1)
    # Stripe takes three-decimal currencies with the last digit 0: a hundredth is the smallest charge.
    assert minor_unit("KWD") == Decimal("0.01")


def test_an_amount_schedule_keeps_its_amounts() -> None:
    terms = Terms.model_validate(
        {
            "payment_schedule": [
                {"name": "Deposit", "amount": "1000", "due": "approval"},
                {"name": "Rest", "amount": "3800", "due": "acceptance"},
            ]
        }
    )
    assert terms.payment_schedule is not None
    amounts = instalment_amounts(Decimal("4800.00"), "EUR", terms.payment_schedule)
    assert amounts == [Decimal("1000.00"), Decimal("3800.00")]


def test_thirds_of_a_hundred() -> None:
    schedule = _terms(["33.33", "33.33", "33.34"]).payment_schedule
    assert schedule is not None
    assert instalment_amounts(Decimal("100.00"), "EUR", schedule) == [
        Decimal("33.33"),
        Decimal("33.33"),
        Decimal("33.34"),
    ]
    assert instalment_amounts(Decimal("100"), "JPY", schedule) == [Decimal(33), Decimal(33), Decimal(34)]


# --------------------------------------------------------------------------
# Shown: what the confirmation email is given
# --------------------------------------------------------------------------


def _issued(data: dict[str, Any]) -> Confirmation:
    draft = ConfirmationDraft.model_validate(data)
    return Confirmation(**draft.model_dump(), version=1, issued_at="2026-12-01T10:00:00Z", amount_total=draft.total)


def test_the_email_is_given_each_instalment_with_its_amount() -> None:
    data = with_schedule(DEPOSIT, DESIGN, HANDOVER, line_items=[{"description": "Work", "unit_price": "100.01"}])
    shown = confirmation_data(_issued(data))
    assert shown["terms"]["payment_schedule"] == [
        {"name": "Deposit", "percent": "30", "due": "approval", "amount": "30.00"},
        {"name": "Design", "percent": "40", "due": "milestone:Design", "amount": "40.00"},
        {"name": "Handover", "percent": "30", "due": "acceptance", "amount": "30.01"},
    ]


def test_without_a_schedule_the_email_is_given_what_it_was() -> None:
    issued = _issued(json.loads(EXAMPLE.read_text(encoding="utf-8")))
    shown = confirmation_data(issued)
    assert "payment_schedule" not in shown["terms"]
    assert shown == {
        **issued.model_dump(mode="json"),
        "line_items": [{**i.model_dump(mode="json"), "amount": str(i.amount)} for i in issued.line_items],
    }


def test_the_cli_names_the_schedule_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(with_schedule(DEPOSIT, DESIGN, {**HANDOVER, "percent": "20"})), encoding="utf-8")
    assert cli.main(["confirm", "42", "--file", str(path), "--address", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "terms.payment_schedule: the percents add up to 90, not 100" in err, err
