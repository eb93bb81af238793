"""The portal's routes are a table: one line per route, naming a handler method of ``PortalPages``."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import httpx
from starlette.routing import Route

from activities.config import Settings
from orderclient.client import OrderClient
from orderweb import portal
from orderweb.inbound import INBOUND_PATH
from orderweb.portal import PortalPages, create_app


async def _no_temporal() -> OrderClient:
    raise AssertionError("building the app connects to nothing")


def test_every_portal_route_is_a_handler_method_of_the_pages(tmp_path: Path) -> None:
    app = create_app(_no_temporal, Settings(outbox_dir=tmp_path))
    routes = [route for route in app.routes if isinstance(route, Route) and not route.path.startswith(INBOUND_PATH)]
    assert len(routes) == 16  # with a payment's receipt and the evidence certificate
    for route in routes:
        handler = route.endpoint
        assert inspect.ismethod(handler) and isinstance(handler.__self__, PortalPages), route.path
        assert getattr(PortalPages, handler.__name__) is handler.__func__, route.path


def test_create_app_defines_no_handler_of_its_own() -> None:
    tree = ast.parse(inspect.getsource(portal))
    [create] = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "create_app"]
    nested = [node.name for node in ast.walk(create) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    assert nested == ["create_app"]


async def test_a_link_page_answers_only_with_the_actions_the_registry_gives_it(tmp_path: Path) -> None:
    # The answer routes take the action from the address: one the page does not offer is not there.
    app = create_app(_no_temporal, Settings(outbox_dir=tmp_path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal") as client:
        for path in (
            "/orders/42/confirmation/1/accept",  # a delivery action on the confirmation page
            "/orders/42/delivery/1/approve",
            "/orders/42/confirmation/1/cancel",  # an action no link may send
            "/orders/42/confirmation/1/nonsense",
        ):
            assert (await client.post(path, data={})).status_code == 404, path
