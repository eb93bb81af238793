"""The order confirmation as a PDF: rendered in the email activity, from its email's data.

The confirmation email (``confirmation_issued``) carries the whole version and
the order (``workflows.email_contexts.confirmation_context``); the PDF is made
from that same data, with the formatters the email and the portal use
(activities/email_format.py), so the three say the same thing. It is stored
write-once in the document store (activities/document_store.py) and attached
to the email; the order keeps only its id, size and SHA-256.

Fonts: DejaVu Sans (Latin, Greek, Cyrillic and much more) with Droid Sans
Fallback for Chinese, Japanese and Korean, both shipped in ``fonts/`` with
their licences, so a name such as "Zoë Łukasiewicz" or "李雷" prints as written
on any machine. Rendering is deterministic: the creation date is the version's
issue time, so a retry renders the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace, TTFFont

from activities.config import Settings
from activities.document_store import DocumentMissing, LocalDocumentStore, confirmation_document_id, sha256_hex
from activities.email_format import (
    as_utc,
    format_date,
    format_duration,
    format_instalment_due,
    format_label,
    format_money,
    format_number,
)
from activities.outgoing import Attachment
from workflows.models import DocumentRef, EmailRequest

FONTS_DIR = Path(__file__).resolve().parent / "fonts"
FONT = "DejaVuSans"
FALLBACK_FONT = "DroidSansFallback"
FONT_FILES = {
    (FONT, ""): "DejaVuSans.ttf",
    (FONT, "B"): "DejaVuSans-Bold.ttf",
    (FALLBACK_FONT, ""): "DroidSansFallbackFull.ttf",
}
_WIDTH = 180.0  # A4 less 15 mm margins
PDF_TYPE = "application/pdf"


@dataclass(frozen=True)
class ConfirmationPdf:
    """A stored confirmation PDF: what the order keeps, and the file the email attaches."""

    document: DocumentRef
    attachment: Attachment


def attachment_name(order_id: str, version: int) -> str:
    return f"order-{order_id}-confirmation-v{version}.pdf"


def confirmation_pdf(request: EmailRequest, settings: Settings, store: LocalDocumentStore) -> ConfirmationPdf:
    """The version's PDF, rendered and stored unless an earlier attempt stored it, then read
    back hash-checked: the email attaches exactly the bytes the order will vouch for.
    Blocking (rendering, files): call it in a thread."""
    version = int(request.context["confirmation"]["version"])
    document_id = confirmation_document_id(request.order_id, version)
    try:
        data = store.get(document_id)  # a retry, or a race with another worker: the stored file stands
    except DocumentMissing:
        stored = store.put(document_id, render_confirmation(request.context, settings))
        data = store.get(stored.id, expected_sha256=stored.sha256)
    return ConfirmationPdf(
        document=DocumentRef(id=document_id, size=len(data), sha256=sha256_hex(data)),
        attachment=Attachment(filename=attachment_name(request.order_id, version), content_type=PDF_TYPE, data=data),
    )


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------


@cache
def _font_path(name: str, style: str) -> str:
    path = FONTS_DIR / FONT_FILES[(name, style)]
    if not path.is_file():
        raise FileNotFoundError(f"the PDF font {path} is missing: reinstall the package")
    return str(path)


def _strings(value: object) -> Iterator[str]:
    """Every text in the email's context, however deep."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _cmap(pdf: FPDF, key: str) -> set[int]:
    """The code points a font added to ``pdf`` has glyphs for."""
    font = pdf.fonts[key]
    return set(font.cmap) if isinstance(font, TTFFont) else set()


class _Page:
    """A few drawing helpers over fpdf2, so the layout reads as a list of parts."""

    def __init__(self, created: datetime, texts: Iterable[str]) -> None:
        pdf = FPDF(format="A4")
        pdf.add_font(FONT, "", _font_path(FONT, ""))
        pdf.add_font(FONT, "B", _font_path(FONT, "B"))
        covered = _cmap(pdf, FONT.lower()) & _cmap(pdf, FONT.lower() + "B")
        if any(ord(char) not in covered for text in texts for char in text):
            # Characters DejaVu lacks (Chinese, Japanese, Korean) come from the fallback, bold or not.
            # Loaded only then: it is a large font, and most confirmations never need it.
            pdf.add_font(FALLBACK_FONT, "", _font_path(FALLBACK_FONT, ""))
            pdf.set_fallback_fonts([FALLBACK_FONT], exact_match=False)
        pdf.set_margins(15, 15, 15)
        pdf.set_auto_page_break(True, margin=15)
        pdf.set_creation_date(created)
        pdf.add_page()
        self.pdf = pdf

    def font(self, style: str, size: float) -> None:
        """Select the font, always writing it into the page: after text drawn with the fallback font,
        fpdf2 (2.8) believes DejaVu is still selected and would skip it, and the next text would be
        drawn with the fallback's glyphs (garbage)."""
        self.pdf.set_font(FONT, "" if style else "B", size)
        self.pdf.set_font(FONT, style, size)

    def text(self, text: object, size: float = 10, style: str = "", height: float = 5) -> None:
        self.font(style, size)
        self.pdf.multi_cell(_WIDTH, height, str(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def heading(self, text: str) -> None:
        self.pdf.ln(3)
        self.text(text, size=12, style="B", height=7)

    def table(self, rows: Sequence[Sequence[str]], widths: tuple[int, ...], align: tuple[str, ...]) -> None:
        """A table whose first row is its heading and last its total; long cells wrap."""
        self.font("", 10)
        with self.pdf.table(
            col_widths=widths,
            text_align=align,
            headings_style=FontFace(emphasis="BOLD"),
            borders_layout="HORIZONTAL_LINES",
            line_height=6,
            width=_WIDTH,
        ) as table:
            for number, cells in enumerate(rows):
                style = FontFace(emphasis="BOLD") if number == len(rows) - 1 else None
                row = table.row(style=style)
                for cell in cells:
                    row.cell(cell)

    def bytes(self) -> bytes:
        return bytes(self.pdf.output())


def _header(page: _Page, context: Mapping[str, Any], settings: Settings) -> None:
    c, order = context["confirmation"], context["order"]
    page.text(settings.company_name, size=16, style="B", height=8)
    page.text(f"{settings.from_email} | support: {settings.support_email}", size=9)
    page.pdf.ln(4)
    page.text(c.get("title") or "Order confirmation", size=14, style="B", height=7)
    page.text(f"Order {order['order_id']} | Version {c['version']} | Issued {format_date(c['issued_at'])}")
    if context.get("expires_at"):
        page.text(f"Valid until {format_date(context['expires_at'])}")
    change = context.get("change")
    if isinstance(change, Mapping):
        before, after = (format_money(change[key], c["currency"]) for key in ("previous_total", "total"))
        approved = change["previous_version"]
        page.text(f"Change order to approved version {approved}: the total goes from {before} to {after}.")
    customer = order.get("customer") or {}
    page.heading("Customer")
    for part in ("name", "company", "email"):
        if customer.get(part):
            # One cell each: a line after one drawn from the fallback font must start again in DejaVu.
            page.text(str(customer[part]))


def _line_items(page: _Page, c: Mapping[str, Any]) -> None:
    currency = c["currency"]
    page.heading("Services")
    rows = [("Description", "Quantity", "Unit price", "Amount")]
    rows += [
        (
            str(item["description"]),
            format_number(item["quantity"]),
            format_money(item["unit_price"], currency),
            format_money(item["amount"], currency),
        )
        for item in c["line_items"]
    ]
    rows.append(("Total", "", "", format_money(c["amount_total"], currency)))
    page.table(rows, widths=(90, 20, 35, 35), align=("LEFT", "RIGHT", "RIGHT", "RIGHT"))


def _term(context: Mapping[str, Any], name: str) -> str:
    """A duration of the terms as the order applies it: the term, else the worker's default."""
    value = context["confirmation"]["terms"].get(name) or (context.get("effective") or {}).get(name)
    return format_duration(value) if value else "the usual time"


def _payment_terms(page: _Page, context: Mapping[str, Any]) -> None:
    c = context["confirmation"]
    t = c["terms"]
    methods = " or ".join(format_label(m).lower() for m in t["payment_methods"])
    due, grace = _term(context, "payment_due"), _term(context, "payment_grace")
    page.heading("Payment")
    schedule = t.get("payment_schedule")
    if not schedule:
        page.text(f"By {methods}, due within {due} of approval. An order still unpaid {grace} after that is cancelled.")
        return
    page.text(f"By {methods}, in instalments, each due within {due} of the time it falls due:")
    for row in schedule:
        share = f" ({format_number(row['percent'])}%)" if row.get("percent") else ""
        when = format_instalment_due(row["due"])
        page.text(f"  - {row['name']}, {when}: {format_money(row['amount'], c['currency'])}{share}")
    page.text(f"An order whose instalments due on approval are still unpaid {grace} after that is cancelled.")


def _work_terms(page: _Page, context: Mapping[str, Any]) -> None:
    c = context["confirmation"]
    t = c["terms"]
    page.heading("Work, delivery and support")
    for milestone in t.get("milestones") or []:
        page.text(f"Milestone {milestone['name']}: within {format_duration(milestone['due'])} of the start of work.")
    if t.get("estimated_delivery"):
        page.text(f"Estimated delivery: within {format_duration(t['estimated_delivery'])} of the start of work.")
    deemed = " Without an answer by then, the delivery counts as accepted." if t.get("deemed_acceptance") else ""
    review = _term(context, "review_period")
    page.text(f"Review: after delivery you have {review} to accept it or ask for a revision.{deemed}")
    page.text(f"Support: {t.get('support_scope')}, for {_term(context, 'support_period')} after acceptance.")
    fee, others = float(t.get("cancellation_fee") or 0), t.get("other_terms") or []
    if fee > 0 or others:
        page.heading("Other terms")
    if fee > 0:
        page.text(f"Cancellation fee: {format_money(t['cancellation_fee'], c['currency'])}.")
    for term in others:
        page.text(f"- {term}")


def render_confirmation(context: Mapping[str, Any], settings: Settings) -> bytes:
    """The PDF of one confirmation version from its email's context: the same context
    gives the same bytes. Raises ``KeyError`` or a formatter's error on a context that
    lacks what a confirmation has."""
    texts = [*_strings(context), settings.company_name, settings.from_email, settings.support_email]
    page = _Page(as_utc(context["confirmation"]["issued_at"], "issued_at"), texts)
    _header(page, context, settings)
    _line_items(page, context["confirmation"])
    _payment_terms(page, context)
    _work_terms(page, context)
    return page.bytes()
