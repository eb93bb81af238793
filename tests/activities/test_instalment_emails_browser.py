"""The payment schedule's emails in a real browser: they fit a phone, and pass axe-core (WCAG 2.1 AA).

Each instalment email, and the deposit's emails with a schedule, rendered by the real renderer and
opened in Debian's chromium at 360 px and at desktop width. The schedule is a data table with
column headers; its rows must read in order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from activities.config import Settings
from activities.email import render
from tests.activities.email_samples import SAMPLE_CONTEXTS, SAMPLE_VARIANTS
from tests.browser import AXE, CHROMIUM, PHONE, axe_problems, width_problems
from workflows.models import MessageKind

pytest.importorskip("playwright.async_api", reason="playwright is not installed (pip install -e '.[dev]')")

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM}: apt-get install -y chromium"
)

INSTALMENT_KINDS = [kind for kind in MessageKind if kind.value.startswith("instalment_")]

CASES: dict[str, tuple[MessageKind, dict[str, Any]]] = {
    **{kind.value: (kind, SAMPLE_CONTEXTS[kind]) for kind in INSTALMENT_KINDS},
    **{name: case for name, case in SAMPLE_VARIANTS.items() if "instalments" in case[1]},
}


def test_the_cases_cover_every_instalment_email_and_the_deposits() -> None:
    assert len(INSTALMENT_KINDS) == 5
    assert {"payment_requested.schedule", "payment_reminder.schedule", "payment_received.schedule"} <= set(CASES)


async def test_the_schedule_emails_fit_a_phone_and_pass_axe(browser: Any) -> None:
    settings = Settings(web_base_url="https://orders.example.com")
    page = await browser.new_page(viewport={"width": PHONE, "height": 800})
    problems: list[str] = []
    for name, (kind, context) in CASES.items():
        await page.set_content(render(kind, context, settings).html)
        rows = await page.eval_on_selector(
            "th[scope=col]",
            "th => [...th.closest('table').rows].map(r => [...r.cells].map(c => c.textContent.trim()).join(' | '))",
        )
        assert rows[0] == "Instalment | Amount | Status", (name, rows)
        assert [row.split(" | ")[0] for row in rows[1:]] == ["1. Deposit", "2. Design", "3. Handover"], (name, rows)
        problems += await width_problems(page, name)
        problems += await axe_problems(page, name)
    assert problems == [], "\n".join(problems)
    if not AXE.exists():
        pytest.skip(f"the emails fit; axe-core not checked: {AXE} is missing (run npm ci)")
