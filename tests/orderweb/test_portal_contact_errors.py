"""The contact form names every problem at once (issue 17, item 6).

A form with a bad email and no message used to be answered with the email's
problem only; fixing it brought the next one. Every field's problem is listed
together now, each naming its field, and nothing starts.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from orderclient.client import OrderNotFound
from orderweb.portal import contact_order_id
from tests.orderweb.portal_harness import running_portal
from tests.orderweb.test_portal_security import hidden


async def test_the_contact_form_lists_every_problem_at_once(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    async with (
        running_portal(dev_env.client, tmp_path, task_queue) as portal,
        httpx.AsyncClient(base_url=portal.url, timeout=30) as http,
    ):
        fields = hidden((await http.get("/contact")).text)
        data = {**fields, "name": "", "email": "nope", "message": ""}
        answer = await http.post("/contact", data=data)
        assert answer.status_code == 400
        problems = re.findall(r"<li>([^<]+)</li>", answer.text)
        assert problems == [
            "name: please fill this in",
            "email: not a valid email address",
            "message: please fill this in",
        ]
        with pytest.raises(OrderNotFound):  # nothing started
            await portal.orders.status(contact_order_id(fields["nonce"]))
