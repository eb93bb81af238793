"""The README's picture of the confirmation PDF (docs/img/confirmation-pdf.png): the
README shows it and says where documents are stored, it is a PNG of a sensible size,
and the documented command (tests/docs/confirmation_image.py) still draws it from
today's renderer. Also the two layout rules the picture made visible."""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image
from pypdf import PdfReader

from activities.documents import render_confirmation
from tests.docs.confirmation_image import IMAGE, ROOT, SETTINGS, WIDTH_PX, main, sample_context

README = ROOT / "README.md"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
A4_RATIO = 297 / 210
MAX_BYTES = 150 * 1024
"""A README picture that costs every clone more than this was saved without its palette."""
INK = 160
"""Grey levels darker than this are ink; lighter ones are paper, rules' anti-aliasing or the edge."""
TOLERANCE_PX = 2
"""How far a line's edges may move between PDFium builds (anti-aliasing, hinting)."""

Line = tuple[int, int, int, int]


def _around_the_readme_image() -> str:
    """The README's paragraphs around its picture of the PDF: two before it, two after."""
    paragraphs = README.read_text(encoding="utf-8").split("\n\n")
    pattern = re.compile(r"!\[(?P<alt>[^\]]*)\]\(docs/img/confirmation-pdf\.png\)")
    found = [(n, match) for n, paragraph in enumerate(paragraphs) if (match := pattern.search(paragraph))]
    assert found, "README.md does not show docs/img/confirmation-pdf.png"
    n, match = found[0]
    assert len(match["alt"].split()) >= 4, f"the README's picture needs alt text that says what it shows: {match[0]}"
    return "\n\n".join(paragraphs[max(n - 2, 0) : n + 3])


def test_the_readme_shows_the_confirmation_pdf_next_to_where_documents_are_kept() -> None:
    around = _around_the_readme_image()
    for expected in ("python -m tests.docs.confirmation_image", ".orders/documents", "ORDERS_DOCUMENTS_DIR"):
        assert expected in around, f"{expected!r} is not next to the README's picture of the PDF:\n{around}"


def test_the_picture_is_a_png_of_a_sensible_size() -> None:
    data = IMAGE.read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{IMAGE} is not a PNG"
    assert len(data) <= MAX_BYTES, f"{IMAGE} is {len(data)} bytes: regenerate it with the documented command"
    with Image.open(IMAGE) as image:
        width, height = image.size
    assert width == WIDTH_PX
    assert abs(height / width - A4_RATIO) < 0.01, f"{width}x{height} is not an A4 page"


def _ink_lines(path: Path) -> list[Line]:
    """Each run of rows with ink on them (a line of text, a rule): top, bottom, left, right.
    What the page looks like, in a form that survives another rasteriser's smoothing."""
    with Image.open(path) as image:
        grey = image.convert("L")
    ink = grey.crop((2, 2, grey.width - 2, grey.height - 2)).point(lambda v: 255 if v < INK else 0)
    lines: list[Line] = []
    top, left, right = -1, ink.width, 0
    for y in range(ink.height):
        box = ink.crop((0, y, ink.width, y + 1)).getbbox()
        if box and top < 0:
            top, left, right = y, box[0], box[2]
        elif box:
            left, right = min(left, box[0]), max(right, box[2])
        elif top >= 0:
            lines.append((top, y, left, right))
            top = -1
    return lines


def _moved(drawn: list[Line], committed: list[Line]) -> list[tuple[Line, Line]]:
    pairs = zip(drawn, committed, strict=True)
    return [(a, b) for a, b in pairs if any(abs(p - q) > TOLERANCE_PX for p, q in zip(a, b, strict=True))]


def test_the_documented_command_draws_the_committed_picture(tmp_path: Path) -> None:
    """Not pixel for pixel (another PDFium may smooth edges differently): the same size, and
    the same lines of ink in the same places, so a layout change without a new picture fails."""
    fresh = tmp_path / "confirmation.png"
    main(["--out", str(fresh)])
    with Image.open(fresh) as drawn, Image.open(IMAGE) as committed:
        assert drawn.size == committed.size
    drawn_lines, committed_lines = _ink_lines(fresh), _ink_lines(IMAGE)
    stale = "run `python -m tests.docs.confirmation_image` and commit docs/img/confirmation-pdf.png"
    assert len(drawn_lines) == len(committed_lines), (
        f"the renderer draws {len(drawn_lines)} lines, the committed picture has {len(committed_lines)}: {stale}"
    )
    moved = _moved(drawn_lines, committed_lines)
    assert not moved, f"lines moved (drawn, committed: top, bottom, left, right): {moved[:3]}: {stale}"


def _pdf() -> bytes:
    return render_confirmation(sample_context(), SETTINGS)


def test_paragraphs_are_ragged_right_not_stretched() -> None:
    """A justified line of a short paragraph gets wide gaps between its words: fpdf2 stretches
    them with numeric adjustments inside a text array (``(word) -134.9(next)``)."""
    content = PdfReader(io.BytesIO(_pdf())).pages[0].get_contents()
    assert content is not None
    stretched = re.findall(rb"\) ?-?\d+(?:\.\d+)? ?\(", content.get_data())
    assert not stretched, f"{len(stretched)} word gaps are stretched"


def test_milestones_are_listed_as_the_email_lists_them() -> None:
    text = PdfReader(io.BytesIO(_pdf())).pages[0].extract_text()
    assert "Milestones, counted from the start of work:" in text
    assert "- Design approved: within 10 days" in text
    assert "- Site live: within 35 days" in text
