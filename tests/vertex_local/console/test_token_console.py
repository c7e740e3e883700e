"""A vertex-local started with a bearer token: the console opens from /console/#token=..., keeps the token out of
the address bar, and every request it makes carries it; without it the page loads but its data does not."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from tests.support import tiers
from tests.support.console import console_url
from tests.support.own_servers import serve_own
from tests.support.vertex_local_server import VertexLocal

TOKEN = secrets.token_urlsafe()


@pytest.fixture(scope="module")
@tiers.live
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VertexLocal]:
    # `--token=...` in one word: a random token may begin with "-", which argparse reads as the next option
    running = serve_own(tmp_path_factory.mktemp("token-console"), [f"--token={TOKEN}"], token=TOKEN)
    bearer = {"authorization": f"Bearer {TOKEN}"}
    endpoint = {"displayName": "guarded-endpoint"}
    created = requests.post(running.api("endpoints"), json=endpoint, headers=bearer, timeout=30)
    assert created.status_code == 200, created.text
    yield running
    running.stop()


def test_the_page_loads_without_the_token_but_its_data_needs_it(token_server: VertexLocal) -> None:
    assert requests.get(f"{token_server.url}/console/", timeout=10).status_code == 200
    assert requests.get(f"{token_server.url}/console/static/api.js", timeout=10).status_code == 200
    assert requests.get(token_server.api("endpoints"), timeout=10).status_code == 401
    assert requests.post(f"{token_server.url}/console/", timeout=10).status_code == 401  # only GETs of the page


def test_the_console_opened_with_its_token_shows_the_data_and_drops_the_token_from_the_address(
    page: Any, token_server: VertexLocal
) -> None:
    page.goto(console_url(token_server, f"/endpoints&token={TOKEN}"))
    expect(page.get_by_text("guarded-endpoint").first).to_be_visible()
    assert TOKEN not in page.url and page.url.endswith("#/endpoints")
    page.reload()  # the tab keeps the token, the address bar never shows it again
    expect(page.get_by_text("guarded-endpoint").first).to_be_visible()


def test_the_console_without_the_token_says_so(page: Any, token_server: VertexLocal) -> None:
    page.goto(console_url(token_server, "/endpoints"))
    expect(page.get_by_role("alert")).to_contain_text("401")
