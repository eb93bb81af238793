"""The README's picture of a confirmation PDF: a sample order's version rendered by
the worker's own renderer (activities/documents.py), its first page drawn as a PNG.

Regenerate it after changing the PDF's layout::

    python -m tests.docs.confirmation_image

which writes ``docs/img/confirmation-pdf.png`` (``--out FILE`` writes elsewhere).
The page is drawn by PDFium (PyPI ``pypdfium2``, in the dev extra): it ships its
own library, so no system tools (poppler, Ghostscript) are needed.
tests/docs/test_confirmation_image.py checks that the committed picture is still
what this command makes.
"""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pypdfium2
from PIL import Image, ImageDraw

from activities.config import Settings
from activities.documents import render_confirmation
from workflows.email_contexts import confirmation_data
from workflows.models import Confirmation

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "docs" / "img" / "confirmation-pdf.png"
WIDTH_PX = 1000
"""Wide enough to read the small print on GitHub's README column, small enough to stay light."""
EDGE = (200, 200, 200)
COLOURS = 64
"""The page is black text, grey rules and white paper: a 64-colour palette keeps the
anti-aliased edges and makes the file a fraction of a full-colour PNG."""

ISSUED = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
SETTINGS = Settings(
    company_name="Example IT Services",
    from_email="orders@example.com",
    support_email="support@example.com",
)


def sample_confirmation() -> Confirmation:
    """A version as staff issue it: several lines, a deposit and instalments, milestones, other terms."""
    return Confirmation.model_validate(
        {
            "title": "Booking website relaunch",
            "currency": "EUR",
            "line_items": [
                {"description": "Discovery workshop", "quantity": "1", "unit_price": "900.00"},
                {"description": "Design and page templates", "quantity": "1", "unit_price": "2400.00"},
                {"description": "Implementation (days)", "quantity": "6", "unit_price": "560.00"},
                {"description": "Content migration, 40 pages in Polish and English", "unit_price": "640.00"},
            ],
            "terms": {
                "payment_methods": ["bank_transfer", "card"],
                "payment_due": "P14D",
                "milestones": [{"name": "Design approved", "due": "P10D"}, {"name": "Site live", "due": "P35D"}],
                "payment_schedule": [
                    {"name": "Deposit", "percent": "30", "due": "approval"},
                    {"name": "Design", "percent": "40", "due": "milestone:Design approved"},
                    {"name": "Handover", "percent": "30", "due": "acceptance"},
                ],
                "estimated_delivery": "P40D",
                "review_period": "P10D",
                "deemed_acceptance": True,
                "support_period": "P90D",
                "support_scope": "Questions and defect fixes by email, next business day",
                "cancellation_fee": "300.00",
                "other_terms": [
                    "Hosting and third-party licences are billed separately.",
                    "The customer provides the texts and images by the start of work.",
                ],
            },
            "version": 2,
            "issued_at": ISSUED,
            "amount_total": "7300.00",
        }
    )


def sample_context() -> dict[str, Any]:
    """What the workflow puts in that version's email (workflows/email_contexts.py), which the PDF is made from."""
    return {
        "order": {
            "order_id": "ORD-2026-0042",
            "customer": {
                "name": "Zoë Łukasiewicz",
                "email": "zoe@krakow-bikes.example",
                "company": "Kraków Bikes sp. z o.o.",
                "phone": None,
            },
            "status": "AWAITING_APPROVAL",
            "currency": None,
            "total": None,
            "version": 2,
            "payment_reference": None,
        },
        "confirmation": confirmation_data(sample_confirmation()),
        "effective": {
            "payment_due": "P14D",
            "payment_grace": "P7D",
            "review_period": "P10D",
            "support_period": "P90D",
            "confirmation_expiry": "P14D",
        },
        "expires_at": "2026-12-10T14:05:00Z",
    }


def render_image(pdf: bytes, width: int = WIDTH_PX) -> Image.Image:
    """The PDF's first page, ``width`` pixels wide, in a small palette."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        page = document[0]
        scale = width / page.get_width()
        # pypdfium2 is untyped here: name the image's type once.
        image: Image.Image = page.render(scale=scale).to_pil().convert("RGB")
    finally:
        document.close()
    # A hairline edge: on the README's white background the paper would have no edge at all.
    ImageDraw.Draw(image).rectangle((0, 0, image.width - 1, image.height - 1), outline=EDGE)
    return image.quantize(colors=COLOURS, dither=Image.Dither.NONE)


def write_image(path: Path = IMAGE) -> Path:
    """Render the sample confirmation and write page 1 to ``path`` as an optimised PNG."""
    image = render_image(render_confirmation(sample_context(), SETTINGS))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.docs.confirmation_image",
        description="Draw page 1 of a sample confirmation PDF as the README's PNG.",
    )
    parser.add_argument(
        "--out", type=Path, default=IMAGE, help=f"where to write it (default {IMAGE.relative_to(ROOT)})"
    )
    path = write_image(parser.parse_args(argv).out)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
