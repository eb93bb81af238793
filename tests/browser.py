"""Real-browser checks the portal and the Stripe double's checkout page share.

Debian's chromium through Playwright (``executable_path``: nothing is
downloaded), a page's width at a phone and at desktop, and axe-core's WCAG
2.0/2.1 A and AA rules. axe-core comes from npm (``npm ci`` installs it from
the project's package.json); without it, ``axe_problems`` finds nothing and
the caller says so.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"
PHONE, DESKTOP = 360, 1280
AXE_RULES = "async () => await axe.run(document, {runOnly: ['wcag2a','wcag2aa','wcag21a','wcag21aa']})"


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium, closed afterwards."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


async def width_problems(page: Any, name: str) -> list[str]:
    """Where the page scrolls sideways, at a phone's width and at desktop's; it is left at the phone's."""
    problems = []
    for width in (PHONE, DESKTOP):
        await page.set_viewport_size({"width": width, "height": 800})
        scroll_width = await page.evaluate("document.documentElement.scrollWidth")
        if scroll_width > width:
            problems.append(f"{name}: {scroll_width} px wide at a {width} px viewport")
    await page.set_viewport_size({"width": PHONE, "height": 800})
    return problems


async def axe_problems(page: Any, name: str, impacts: tuple[str, ...] | None = None) -> list[str]:
    """axe-core's violations on the page (of these ``impacts`` only, if given); none without axe-core.

    axe is injected as an inline script: open the page with ``bypass_csp=True``.
    """
    if not AXE.exists():
        return []
    await page.add_script_tag(content=AXE.read_text())
    result = await page.evaluate(AXE_RULES)
    problems = []
    for violation in result["violations"]:
        if impacts is None or violation["impact"] in impacts:
            targets = [node["target"] for node in violation["nodes"]][:3]
            problems.append(f"{name}: axe {violation['id']} ({violation['impact']}) at {targets}")
    return problems
