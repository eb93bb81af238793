"""``orders status`` counts every email the order sent, whoever it went to.

The support team's mail (the notice that support opened, each forwarded
request) is sent by the support desk's activities, not the email activity, and
it used to be left out of the order's record: a walk that wrote 16 emails was
counted as 14, and the parts did not add up to what the outbox held.
"""

from __future__ import annotations

from collections import Counter

from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from starter import order_panel
from tests.conftest import make_worker
from tests.helpers import outbox, start_order, whole_order


async def test_every_email_is_counted_by_audience_and_the_parts_add_up(
    ts_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    async with make_worker(ts_env.client, settings, task_queue):
        handle = await start_order(ts_env.client, task_queue)
        result = await whole_order(handle, settings.outbox_dir)

    audience = {settings.ops_email: "operations", settings.support_email: "support"}
    written = Counter(
        audience.get(str(m["To"]).split("<")[-1].rstrip(">"), "customer") for m in outbox(settings.outbox_dir)
    )
    assert written["support"] == 2, written  # the team's notice and one forwarded request
    parts = ", ".join(
        f"{n} to {'the ' if who == 'customer' else ''}{who}"
        for who, n in sorted(written.items(), key=lambda item: ["customer", "operations", "support"].index(item[0]))
    )
    assert order_panel.emails_sent(result) == f"{written.total()} sent ({parts})"
