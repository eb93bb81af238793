"""Input hygiene: amounts, currencies, fees, milestone names and display names
are refused with a message that names the field, before they reach an order."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from orderclient.contract import schemas
from starter import cli
from workflows.converter import describe
from workflows.models import (
    AddNoteInput,
    ConfirmationDraft,
    Customer,
    RecordPaymentInput,
    StartOrderInput,
    SupportRequestInput,
    UpdateCustomerInput,
)
from workflows.money import ISO_4217_CURRENCIES

UNREACHABLE = ["--address", "127.0.0.1:1"]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "confirmation.json"


def errors_of(model: type[BaseModel], data: Mapping[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return describe(caught.value)


def confirmation(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    data.update(changes)
    return data


def payment(amount: Any) -> dict[str, Any]:
    return {"amount": amount, "reference": "BANK-1"}


# --------------------------------------------------------------------------
# Amounts
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"), [("1e2", "100.00"), (1e2, "100.00"), ("4800", "4800.00"), ("0.5", "0.50")]
)
def test_amounts_are_stored_as_plain_two_place_decimals(given: Any, stored: str) -> None:
    recorded = RecordPaymentInput.model_validate(payment(given))
    assert str(recorded.amount) == stored
    assert recorded.model_dump(mode="json")["amount"] == stored


def test_every_amount_of_a_confirmation_is_plain() -> None:
    data = confirmation(line_items=[{"description": "Work", "quantity": "2E+1", "unit_price": "1E+2"}])
    data["terms"]["cancellation_fee"] = "1e1"
    draft = ConfirmationDraft.model_validate(data)
    assert str(draft.line_items[0].unit_price) == "100.00"
    assert str(draft.line_items[0].quantity) == "20"
    assert str(draft.terms.cancellation_fee) == "10.00"
    assert str(draft.total) == "2000.00"


ARABIC_INDIC_100 = "\u0661\u0660\u0660"
FOREIGN_DIGITS = {
    "arabic-indic": ARABIC_INDIC_100,
    "fullwidth": "\uff11\uff10\uff10",
    "devanagari": "\u0967\u0966\u0966",
    "mixed": "1\u06600.00",
}


@pytest.mark.parametrize("digits", FOREIGN_DIGITS.values(), ids=FOREIGN_DIGITS.keys())
def test_non_ascii_digits_are_refused_naming_the_field(digits: str) -> None:
    assert Decimal(digits) == 100, "Python itself would take them"
    text = errors_of(RecordPaymentInput, payment(digits))
    assert text.startswith("amount: ") and "digits 0-9" in text, text
    data = confirmation(line_items=[{"description": "Work", "quantity": digits, "unit_price": "1"}])
    assert "line_items.0.quantity: " in errors_of(ConfirmationDraft, data)


# --------------------------------------------------------------------------
# Currencies
# --------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["XXX", "ABC", "XTS", "XAU", "XAG", "XPT", "XPD", "XDR"])
def test_codes_that_are_not_money_are_refused(code: str) -> None:
    assert code not in ISO_4217_CURRENCIES
    text = errors_of(ConfirmationDraft, confirmation(currency=code))
    assert text == f"currency: {code} is not an ISO 4217 currency code", text
    assert errors_of(RecordPaymentInput, {**payment("1"), "currency": code}).startswith("currency: ")


@pytest.mark.parametrize("code", ["EUR", "USD", "JPY", "KWD", "CHF", "XOF", "XCD"])
def test_real_currencies_pass(code: str) -> None:
    amount = "100" if code == "JPY" else "100.00"
    data = confirmation(currency=code, line_items=[{"description": "Work", "unit_price": amount}])
    assert ConfirmationDraft.model_validate(data).currency == code


def test_the_currency_list_is_sane() -> None:
    assert len(ISO_4217_CURRENCIES) > 150
    assert all(len(code) == 3 and code.isascii() and code.isupper() for code in ISO_4217_CURRENCIES)


def test_the_published_schema_lists_the_currencies() -> None:
    confirm = schemas()["issue_confirmation"]
    currency = confirm["$defs"]["ConfirmationDraft"]["properties"]["currency"]
    assert set(currency["enum"]) == set(ISO_4217_CURRENCIES)


# --------------------------------------------------------------------------
# Cancellation fee and milestones
# --------------------------------------------------------------------------


def test_a_cancellation_fee_above_the_total_is_refused() -> None:
    data = confirmation()
    data["terms"]["cancellation_fee"] = "4800.01"
    text = errors_of(ConfirmationDraft, data)
    assert text == "terms.cancellation_fee: the cancellation fee 4800.01 is more than the total 4800.00", text
    data["terms"]["cancellation_fee"] = "4800.00"
    assert ConfirmationDraft.model_validate(data).terms.cancellation_fee == Decimal("4800.00")


@pytest.mark.parametrize("second", ["Design", " Design ", "design"])
def test_duplicate_milestone_names_are_refused(second: str) -> None:
    data = confirmation()
    data["terms"]["milestones"] = [{"name": "Design", "due": "P10D"}, {"name": second, "due": "P20D"}]
    text = errors_of(ConfirmationDraft, data)
    assert text.startswith("terms.milestones: ") and "Design" in text, text


# --------------------------------------------------------------------------
# Display names and other short texts
# --------------------------------------------------------------------------

HIDDEN = {
    "right-to-left override": "\u202e",
    "zero-width space": "\u200b",
    "first strong isolate": "\u2068",
    "pop directional isolate": "\u2069",
    "left-to-right mark": "\u200e",
    "right-to-left mark": "\u200f",
    "byte order mark": "\ufeff",
    "word joiner": "\u2060",
    "arabic letter mark": "\u061c",
}


@pytest.mark.parametrize("char", HIDDEN.values(), ids=HIDDEN.keys())
def test_invisible_and_direction_characters_in_names_are_refused(char: str) -> None:
    name = f"Alice{char}moc.evil"
    start = {"order_id": "o1", "customer": {"name": name, "email": "a@example.com"}, "message": "hi"}
    text = errors_of(StartOrderInput, start)
    assert text.startswith("customer.name: ") and f"U+{ord(char):04X}" in text, text
    assert errors_of(UpdateCustomerInput, {"company": f"Acme{char}"}).startswith("company: ")
    assert errors_of(AddNoteInput, {"text": "hi", "author_name": f"Bob{char}"}).startswith("author_name: ")


@pytest.mark.parametrize("char", ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85"])
def test_control_characters_in_short_texts_are_refused(char: str) -> None:
    text = errors_of(Customer, {"name": f"Alice{char}Bcc: x@evil.test", "email": "a@example.com"})
    assert text.startswith("name: "), text
    subject = {"subject": f"Help{char}now", "text": "details"}
    assert errors_of(SupportRequestInput, subject).startswith("subject: ")


@pytest.mark.parametrize(
    "name",
    [
        "Zoë Šimková",
        "\u0645\u062d\u0645\u062f",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        "\u0915\u094d\u200d\u0937",
        "山田 太郎",
        "O'Brien-Smith",
    ],
    ids=["latin", "arabic", "persian zwnj", "devanagari zwj", "cjk", "punctuation"],
)
def test_real_names_pass(name: str) -> None:
    assert Customer.model_validate({"name": name, "email": "a@example.com"}).name == name


def test_an_invisible_character_in_the_email_address_is_refused() -> None:
    assert errors_of(Customer, {"name": "A", "email": "a\u202e@example.com"}).startswith("email: ")


# --------------------------------------------------------------------------
# End to end: the CLI prints the field-named message and exits 2
# --------------------------------------------------------------------------


def test_the_cli_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = confirmation(currency="XXX")
    data["terms"]["cancellation_fee"] = "5000"
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert cli.main(["confirm", "42", "--file", str(path), *UNREACHABLE]) == 2
    err = capsys.readouterr().err
    assert "currency: XXX is not an ISO 4217 currency code" in err, err

    data["currency"] = "EUR"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert cli.main(["confirm", "42", "--file", str(path), *UNREACHABLE]) == 2
    assert "terms.cancellation_fee: " in capsys.readouterr().err

    assert cli.main(["update-customer", "42", "--name", "Alice\u202eexe.", *UNREACHABLE]) == 2
    err = capsys.readouterr().err
    assert "name: " in err and "U+202E" in err, err

    assert cli.main(["pay", "42", "--amount", ARABIC_INDIC_100, "--reference", "BANK-1", *UNREACHABLE]) == 2
    assert "amount: " in capsys.readouterr().err
