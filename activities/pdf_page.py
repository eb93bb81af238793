"""One page of a PDF the worker issues (confirmation, receipt, evidence certificate), over fpdf2.

The fonts are shipped in ``fonts/`` with their licences: DejaVu Sans (Latin,
Greek, Cyrillic and much more) with Droid Sans Fallback for Chinese, Japanese
and Korean, so a name such as "Zoë Łukasiewicz" or "李雷" prints as written on
any machine. Rendering is deterministic: the creation date is given, so the
same data always gives the same bytes (a retried activity stores nothing new).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace, TTFFont

from activities.config import Settings
from activities.document_store import DocumentMissing, DocumentStore, sha256_hex
from activities.outgoing import Attachment
from workflows.models import DocumentRef

FONTS_DIR = Path(__file__).resolve().parent / "fonts"
FONT = "DejaVuSans"
FALLBACK_FONT = "DroidSansFallback"
FONT_FILES = {
    (FONT, ""): "DejaVuSans.ttf",
    (FONT, "B"): "DejaVuSans-Bold.ttf",
    (FALLBACK_FONT, ""): "DroidSansFallbackFull.ttf",
}
WIDTH = 180.0  # A4 less 15 mm margins
PDF_TYPE = "application/pdf"


@dataclass(frozen=True)
class IssuedPdf:
    """A stored PDF: what the order keeps (id, size, hash), and the file an email attaches."""

    document: DocumentRef
    attachment: Attachment


def issue_pdf(store: DocumentStore, document_id: str, filename: str, render: Callable[[], bytes]) -> IssuedPdf:
    """The document under ``document_id``, rendered and stored unless an earlier attempt stored
    it, then read back hash-checked: an email attaches exactly the bytes the order will vouch
    for. Write-once: a retry (or a race with another worker) gets the stored bytes, not new ones.
    Blocking (rendering, files): call it in a thread."""
    try:
        data = store.get(document_id)
    except DocumentMissing:
        stored = store.put(document_id, render())
        data = store.get(stored.id, expected_sha256=stored.sha256)
    return IssuedPdf(
        document=DocumentRef(id=document_id, size=len(data), sha256=sha256_hex(data)),
        attachment=Attachment(filename=filename, content_type=PDF_TYPE, data=data),
    )


@cache
def _font_path(name: str, style: str) -> str:
    path = FONTS_DIR / FONT_FILES[(name, style)]
    if not path.is_file():
        raise FileNotFoundError(f"the PDF font {path} is missing: reinstall the package")
    return str(path)


def strings(value: object) -> Iterator[str]:
    """Every text in the email's context, however deep."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


def _cmap(pdf: FPDF, key: str) -> set[int]:
    """The code points a font added to ``pdf`` has glyphs for."""
    font = pdf.fonts[key]
    return set(font.cmap) if isinstance(font, TTFFont) else set()


class Page:
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
        # Ragged right, as the email and the portal: fpdf2 justifies by default, which
        # stretches the gaps of a short paragraph's lines.
        self.pdf.multi_cell(WIDTH, height, str(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def heading(self, text: str) -> None:
        self.pdf.ln(3)
        self.text(text, size=12, style="B", height=7)

    def letterhead(self, settings: Settings, gap: float = 4) -> None:
        """The issuer at the top of every document: its name, then how to reach it."""
        self.text(settings.company_name, size=16, style="B", height=8)
        self.text(f"{settings.from_email} | support: {settings.support_email}", size=9)
        self.pdf.ln(gap)

    def party(self, heading: str, parts: Iterable[object]) -> None:
        """A heading and the parts of a name and address that are given, one cell each: a line
        after one drawn from the fallback font must start again in DejaVu (see ``font``)."""
        self.heading(heading)
        for part in parts:
            if part:
                self.text(str(part))

    def table(
        self,
        rows: Sequence[Sequence[str]],
        widths: tuple[int, ...],
        align: tuple[str, ...] | None = None,
        *,
        size: float = 10,
        line_height: float = 6,
        total: bool = True,
    ) -> None:
        """A table whose first row is its heading and, with ``total``, last its total in bold;
        long cells (descriptions, hashes) wrap. ``align`` is per column (fpdf2's default without)."""
        self.font("", size)
        with self.pdf.table(
            col_widths=widths,
            **({"text_align": align} if align else {}),
            headings_style=FontFace(emphasis="BOLD"),
            borders_layout="HORIZONTAL_LINES",
            line_height=line_height,
            width=WIDTH,
        ) as table:
            for number, cells in enumerate(rows):
                style = FontFace(emphasis="BOLD") if total and number == len(rows) - 1 else None
                row = table.row(style=style)
                for cell in cells:
                    row.cell(cell)

    def bytes(self) -> bytes:
        return bytes(self.pdf.output())
