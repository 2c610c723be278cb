"""The self-hosted GraphiQL page: nothing loads from outside the app, and a strict CSP says so."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any, cast

import httpx
import pytest

from gql_app.graphql.transport.http import SpecGraphQLRouter
from tests.graphql.transport.test_http_protocol import ENDPOINT, SCHEMA, build_app

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
STATIC_PREFIX = f"{ENDPOINT}/static/"


class Page(HTMLParser):
    """The tags of a page, with their attributes, and the text inside each script."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.script_text.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text[-1] += data

    def urls(self, tag: str, attribute: str, **required: str) -> list[str]:
        return [
            str(attrs[attribute])
            for name, attrs in self.tags
            if name == tag
            and attrs.get(attribute)
            and all(attrs.get(key) == value for key, value in required.items())
        ]

    @property
    def scripts(self) -> list[str]:
        return self.urls("script", "src")

    @property
    def stylesheets(self) -> list[str]:
        return self.urls("link", "href", rel="stylesheet")


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
async def page_response(api: httpx.AsyncClient) -> httpx.Response:
    return await api.get(ENDPOINT, headers={"accept": BROWSER_ACCEPT})


@pytest.fixture
def page(page_response: httpx.Response) -> Page:
    return Page(page_response.text)


def csp_directives(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers["content-security-policy"]
    directives = (part.split() for part in policy.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


async def test_browser_get_serves_graphiql(page_response: httpx.Response, page: Page) -> None:
    assert page_response.status_code == 200
    assert page_response.headers["content-type"] == "text/html; charset=utf-8"
    assert any(attrs.get("id") == "graphiql" for _, attrs in page.tags)
    assert any(url.endswith("/graphiql.min.js") for url in page.scripts)


async def test_page_has_no_external_url(page_response: httpx.Response, page: Page) -> None:
    assert not re.search(r"https?:|//", page_response.text)
    referenced = [
        str(attrs[attribute])
        for _, attrs in page.tags
        for attribute in ("src", "href")
        if attrs.get(attribute)
    ]
    assert referenced
    assert all(url.startswith(STATIC_PREFIX) or url == "data:," for url in referenced)


async def test_page_has_no_inline_script_or_style(page: Page) -> None:
    assert page.scripts
    assert all(text.strip() == "" for text in page.script_text)
    assert len(page.scripts) == len(page.script_text)
    assert not any(name == "style" or "style" in attrs for name, attrs in page.tags)


async def test_every_page_asset_is_served_with_its_content_type(
    api: httpx.AsyncClient, page: Page
) -> None:
    expected = dict.fromkeys(page.scripts, "text/javascript")
    expected |= dict.fromkeys(page.stylesheets, "text/css")
    assert len(expected) == 6
    for url, media_type in expected.items():
        response = await api.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"] == f"{media_type}; charset=utf-8"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.content


async def test_assets_are_cached_for_good_under_a_versioned_url(
    api: httpx.AsyncClient, page: Page
) -> None:
    versions = {url.removeprefix(STATIC_PREFIX).split("/")[0] for url in page.scripts}
    assert len(versions) == 1
    assert re.fullmatch(r"[0-9a-f]{16}", versions.pop())
    response = await api.get(page.scripts[0])
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize(
    "path",
    [
        "graphiql.min.js.map",
        "README.txt",
        "index.html",
        "..%2F..%2Fapp.py",
        "%2E%2E/%2E%2E/graphql/transport/http.py",
    ],
)
async def test_files_outside_the_asset_list_are_404(
    api: httpx.AsyncClient, page: Page, path: str
) -> None:
    versioned_prefix = page.scripts[0].rsplit("/", 1)[0]
    response = await api.get(f"{versioned_prefix}/{path}")
    assert response.status_code == 404


async def test_asset_under_another_version_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get(f"{STATIC_PREFIX}0000000000000000/graphiql.min.js")
    assert response.status_code == 404
    assert response.json() == {"errors": [{"message": "Not Found"}]}


async def test_page_has_strict_content_security_policy(page_response: httpx.Response) -> None:
    directives = csp_directives(page_response)
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"][0] == "'self'"
    assert all(source.startswith("'sha256-") for source in directives["style-src"][1:])
    assert directives["connect-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    sources = [source for values in directives.values() for source in values]
    assert not [s for s in sources if "unsafe" in s or "*" in s or "http" in s]


async def test_non_browser_get_without_query_gets_json_not_the_page(
    api: httpx.AsyncClient,
) -> None:
    response = await api.get(ENDPOINT, headers={"accept": "*/*"})
    assert response.status_code == 400
    assert "errors" in response.json()


async def test_disabled_ide_serves_no_page_to_a_browser() -> None:
    transport = httpx.ASGITransport(app=build_app(graphql_ide=None))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get(ENDPOINT, headers={"accept": BROWSER_ACCEPT})
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        assert "errors" in response.json()
        assert "content-security-policy" not in response.headers


async def test_disabled_ide_serves_no_assets() -> None:
    enabled = httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app()), base_url="http://t")
    disabled = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app(graphql_ide=None)), base_url="http://t"
    )
    async with enabled, disabled:
        page = Page((await enabled.get(ENDPOINT, headers={"accept": BROWSER_ACCEPT})).text)
        for url in page.scripts + page.stylesheets:
            assert (await disabled.get(url)).status_code == 404


@pytest.mark.parametrize("ide", ["apollo-sandbox", "pathfinder"])
def test_cdn_based_ides_are_refused(ide: str) -> None:
    with pytest.raises(ValueError, match="graphql_ide"):
        SpecGraphQLRouter(SCHEMA, graphql_ide=cast(Any, ide))
