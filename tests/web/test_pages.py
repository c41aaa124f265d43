"""The landing page and the API documentation (app/web): our own HTML, assets vendored and served
by us under a content-hashed path, a strict CSP; in a real browser, nothing leaves the service
and nothing is refused or fails."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import httpx
import pytest

from app import __version__
from app.web.assets import STATIC_DIR, asset_version
from tests.fixtures.browser import csp_violations, recorded_page
from tests.fixtures.paths import ROOT

PAGES = ["/", "/docs", "/redoc"]


@pytest.fixture
async def http(app):
    """A client of the session app; the pages need no data, so nothing is truncated."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


class _Resources(HTMLParser):
    """Every URL a page refers to (src, href) and the bodies of its script elements."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: dict[str, list[str]] = {"script": [], "link": [], "a": [], "img": []}
        self.script_bodies: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        url = attrs.get("src") or attrs.get("href")
        if url is not None:
            self.urls.setdefault(tag, []).append(url)
        if tag == "script":
            self._in_script = True
            self.script_bodies.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.script_bodies[-1] += data


def resources(html: str) -> _Resources:
    parser = _Resources()
    parser.feed(html)
    return parser


def csp_directives(header: str) -> dict[str, str]:
    directives = {}
    for part in header.split(";"):
        name, _, sources = part.strip().partition(" ")
        directives[name] = sources
    return directives


# --- over HTTP ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
async def test_pages_are_html_under_a_strict_policy_and_load_nothing_from_outside(http, path):
    response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = csp_directives(response.headers["content-security-policy"])
    assert policy["default-src"] == "'self'"
    assert "script-src" not in policy  # scripts fall back to 'self': no inline, no eval
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    for sources in policy.values():
        assert "http" not in sources and "*" not in sources

    page = resources(response.text)
    assert page.script_bodies == [""] * len(page.urls["script"])  # no inline script
    loaded = page.urls["script"] + page.urls["link"] + page.urls["img"]
    assert loaded, "the page loads its own assets"
    for url in loaded:
        assert url.startswith(f"/static/{asset_version()}/"), url
        asset = await http.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_docs_and_redoc_load_only_the_vendored_bundles_and_our_contract(http):
    prefix = f"/static/{asset_version()}"
    docs = (await http.get("/docs")).text
    assert resources(docs).urls["script"] == [
        f"{prefix}/vendor/swagger-ui/swagger-ui-bundle.js",
        f"{prefix}/docs.js",
    ]
    assert 'data-openapi-url="/openapi.json"' in docs
    redoc = (await http.get("/redoc")).text
    assert resources(redoc).urls["script"] == [
        f"{prefix}/vendor/redoc/redoc.standalone.js",
        f"{prefix}/redoc-init.js",
    ]
    assert 'data-openapi-url="/openapi.json"' in redoc
    # Swagger UI draws from data: URIs and sets styles from script; ReDoc also starts a worker.
    docs_policy = csp_directives((await http.get("/docs")).headers["content-security-policy"])
    assert docs_policy["style-src"] == "'self' 'unsafe-inline'"
    assert docs_policy["img-src"] == "'self' data:"
    assert "worker-src" not in docs_policy
    redoc_policy = csp_directives((await http.get("/redoc")).headers["content-security-policy"])
    assert redoc_policy["worker-src"] == "'self' blob:"
    landing_policy = csp_directives((await http.get("/")).headers["content-security-policy"])
    assert "style-src" not in landing_policy and "img-src" not in landing_policy


async def test_landing_page_says_what_the_service_is_in_chinese_and_links_its_documents(http):
    response = await http.get("/")
    assert "政务服务“好差评”服务" in response.text
    assert f"<code>{__version__}</code>" in response.text
    assert "管理控制台" in response.text
    assert resources(response.text).urls["a"] == [
        "/console",
        "/docs",
        "/redoc",
        "/openapi.json",
        "/healthz",
    ]
    for link in ["/docs", "/redoc", "/openapi.json", "/healthz"]:
        assert (await http.get(link)).status_code == 200, link


async def test_static_files_of_another_version_or_outside_the_folder_are_not_found(http):
    current = f"/static/{asset_version()}/docs.js"
    assert (await http.get(current)).status_code == 200
    for path in [
        "/static/000000000000/docs.js",  # a page of an older release, cached somewhere
        f"/static/{asset_version()}/nothing.js",
        f"/static/{asset_version()}/../router.py",
        f"/static/{asset_version()}/%2e%2e/router.py",
        f"/static/{asset_version()}/vendor",
    ]:
        response = await http.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json", path


async def test_static_files_answer_with_their_media_type(http):
    prefix = f"/static/{asset_version()}"
    for path, media_type in [
        ("docs.js", "text/javascript"),
        ("site.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
        ("vendor/swagger-ui/swagger-ui.css", "text/css"),
    ]:
        response = await http.get(f"{prefix}/{path}")
        assert response.headers["content-type"].split(";")[0] == media_type, path
        assert response.headers["x-content-type-options"] == "nosniff"
    etag = (await http.get(f"{prefix}/docs.js")).headers["etag"]
    again = await http.get(f"{prefix}/docs.js", headers={"If-None-Match": etag})
    assert again.status_code == 304


async def test_static_requests_are_counted_under_the_static_route_not_unmatched(app, http):
    from tests.fixtures.factories import auth, make_key

    metrics_key = auth(await make_key(app, "reader"))
    route = f"/static/{asset_version()}/{{path}}"
    series = f'haochaping_http_requests_total{{method="GET",route="{route}",status="200"}} '

    def count(metrics: str) -> float:
        lines = [line for line in metrics.splitlines() if line.startswith(series)]
        return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0

    before = count((await http.get("/metrics", headers=metrics_key)).text)
    await http.get(f"/static/{asset_version()}/docs.js")
    await http.get(f"/static/{asset_version()}/site.css")
    assert count((await http.get("/metrics", headers=metrics_key)).text) == before + 2


def test_pages_are_not_part_of_the_api_contract(app):
    paths = app.openapi()["paths"]
    assert not {"/", "/docs", "/redoc"} & set(paths)
    assert not [path for path in paths if path.startswith("/static")]


def test_vendored_assets_are_the_pinned_versions_with_their_licences():
    script = (ROOT / "scripts" / "vendor-assets.sh").read_text()
    pins = dict(re.findall(r"^([A-Z_]+)=(\S+)$", script, re.MULTILINE))
    versions = (STATIC_DIR / "vendor" / "VERSIONS").read_text()
    assert (
        f"swagger-ui-dist {pins['SWAGGER_UI_VERSION']} {pins['SWAGGER_UI_INTEGRITY']}" in versions
    )
    assert f"redoc {pins['REDOC_VERSION']} {pins['REDOC_INTEGRITY']}" in versions
    for package, files in {
        "swagger-ui": ["LICENSE", "NOTICE", "swagger-ui-bundle.js", "swagger-ui.css"],
        "redoc": ["LICENSE", "redoc.standalone.js"],
    }.items():
        for name in files:
            assert (STATIC_DIR / "vendor" / package / name).stat().st_size > 0, (package, name)
    assert "cdn.redoc.ly" not in (STATIC_DIR / "vendor/redoc/redoc.standalone.js").read_text()


# --- in a real browser -------------------------------------------------------------------------


async def assert_stayed_home(page, record, base_url: str) -> None:
    """Every request went to the service (on 127.0.0.1), and nothing failed or was refused."""
    origin = urlsplit(base_url)
    assert record.requests
    for request in record.requests:
        url = urlsplit(request.url.removeprefix("blob:"))
        assert (url.scheme, url.netloc) == (origin.scheme, origin.netloc), request.url
        if not request.url.startswith("blob:"):
            response = await request.response()
            assert response is not None, request.url
            assert (await response.server_addr())["ipAddress"] == "127.0.0.1", request.url
            assert response.status < 400, (request.url, response.status)
    assert record.problems() == []
    assert await csp_violations(page) == []


async def test_docs_render_the_operations_in_the_browser(browser, intranet_server):
    async with recorded_page(browser) as (page, record):
        await page.goto(f"{intranet_server}/docs", wait_until="networkidle")
        ratings = page.locator(".opblock-summary-path[data-path='/v1/ratings']").first
        await ratings.wait_for(state="visible")
        assert "/v1/ratings" in (await page.inner_text("#swagger-ui")).replace("\u200b", "")
        assert await page.locator(".opblock").count() > 20
        # An operation opens, with its parameters and responses.
        await ratings.click()
        await page.locator(".opblock.is-open .responses-wrapper").first.wait_for(state="visible")
        await page.screenshot(path="/tmp/docs.png")
        # "Try it out" sends the request from the page (connect-src 'self').
        healthz = page.locator(".opblock").filter(has=page.locator("[data-path='/healthz']"))
        await healthz.locator(".opblock-summary").click()
        await healthz.get_by_role("button", name="Try it out").click()
        await healthz.get_by_role("button", name="Execute").click()
        status = healthz.locator(".live-responses-table tbody .response-col_status").first
        await status.wait_for(state="visible")
        assert (await status.inner_text()).strip() == "200"
        await assert_stayed_home(page, record, intranet_server)


async def test_redoc_renders_the_reference_in_the_browser(browser, intranet_server):
    async with recorded_page(browser) as (page, record):
        await page.goto(f"{intranet_server}/redoc", wait_until="networkidle")
        title = page.get_by_role("heading", name=f"haochaping ({__version__})", exact=True)
        # ReDoc lays out the whole contract (about 740 kB) before it shows anything: on a loaded
        # 2-core machine that took over 30 s, Playwright's default wait.
        await title.wait_for(state="visible", timeout=120_000)
        await page.get_by_role("menuitem", name="ratings").first.wait_for(state="visible")
        assert await page.locator("[data-section-id^='operation/']").count() > 20
        assert "/v1/ratings" in await page.inner_text("body")
        # Its search runs in a worker made from a blob: URL (refused unless worker-src allows).
        assert await csp_violations(page) == []
        assert record.problems() == []
        await page.get_by_placeholder("Search...").fill("ratings")
        await page.locator("[data-role='search:results']").first.wait_for(state="visible")
        await page.screenshot(path="/tmp/redoc.png")
        await assert_stayed_home(page, record, intranet_server)


async def test_landing_page_in_the_browser(browser, intranet_server):
    async with recorded_page(browser) as (page, record):
        await page.goto(f"{intranet_server}/", wait_until="networkidle")
        heading = page.get_by_role("heading", level=1)
        assert await heading.inner_text() == "政务服务“好差评”服务"
        # The style sheet is ours and applied: the card's top border in the accent colour.
        border = await page.locator("main").evaluate("e => getComputedStyle(e).borderTopColor")
        assert border == "rgb(192, 57, 43)"
        await page.screenshot(path="/tmp/landing.png")
        await page.get_by_role("link", name="接口文档（Swagger UI）").click()
        await page.wait_for_url(f"{intranet_server}/docs")
        await page.locator(".opblock").first.wait_for(state="visible")
        await assert_stayed_home(page, record, intranet_server)
