"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, network disabled."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def chromium_path() -> str:
    """Debian's chromium (``apt-get install chromium``); ``$CITYPLAN_CHROMIUM`` overrides."""
    path = os.environ.get("CITYPLAN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        msg = "headless Chromium not found: apt-get install chromium (the .ci/run script does)"
        raise RuntimeError(msg)
    return path


@dataclass
class PageLog:
    """What a page did: errors, dialogs, and requests that tried to leave the machine."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


@contextmanager
def launch() -> Iterator[Browser]:
    """A Chromium browser for the duration of the block (the pages' common web-font slices cut
    first, once per machine, so no page load waits for fontTools under the suite's load)."""
    from cityplan.server import webfont

    webfont.warm(Path(tempfile.gettempdir()) / "cityplan-webfont")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_offline(browser: Browser, html: Path, *, timeout_ms: int = 60_000) -> Iterator[tuple[Page, PageLog]]:
    """Open ``html`` with every non-file request aborted and the context offline."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, offline=True)
    log = PageLog()

    def _route(route) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            log.blocked.append(url)
            route.abort()

    ctx.route("**/*", _route)
    page = ctx.new_page()
    page.on("pageerror", lambda e: log.errors.append(str(e)))
    page.on("console", lambda m: log.errors.append(m.text) if m.type == "error" else None)

    def _dialog(d) -> None:
        log.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", _dialog)
    try:
        page.goto(html.resolve().as_uri(), wait_until="load", timeout=timeout_ms)
        yield page, log
    finally:
        ctx.close()


def served_page(browser: Browser, url: str, *, height: int = 860):  # noqa: ANN201
    """A page of a new context that lets through only requests to the served ``url``: ``(context,
    page, page errors, blocked outside requests)``."""
    ctx = browser.new_context(viewport={"width": 1280, "height": height})
    outside: list[str] = []

    def route(r) -> None:
        if r.request.url.startswith(url):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    ctx.route("**/*", route)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return ctx, page, errors, outside


def wait_for(page: Page, expr: str, timeout: float = 90) -> None:
    """Poll ``expr`` in the page until it is truthy (AssertionError after ``timeout`` seconds)."""
    import time

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if page.evaluate(expr):
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {expr}")


def log_in(page: Page, url: str, name: str) -> None:
    """Log ``name`` in through the login form (the accounts of ``server_process``)."""
    from server_process import PASSWORD

    page.goto(f"{url}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("#cp-login")
    assert page.text_content("#cp-whoami").startswith(name)
