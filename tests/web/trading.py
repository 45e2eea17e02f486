"""The trading page (public/) as a person uses it, through Playwright and Debian's Chromium.

`TradingPage` drives one browser context (its own localStorage, so its own API key) by the
page's `data-testid`s only; every wait is an explicit one on an element (Playwright's
`expect`), never a sleep.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Playwright,
    ViewportSize,
    expect,
)

from tests.api_harness import Api, VercelApi

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling home (the network here is
# closed); QUIC and the GPU are of no use headless.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT: ViewportSize = {"width": 1400, "height": 950}
CHROMIUM_OWN_ERRORS = ("Failed to load resource", "WebSocket connection to")
WAIT_MS = 10_000  # any one thing the page shows; depth ticks every second


@contextmanager
def chromium(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium (never a browser Playwright downloads). Playwright starts it with
    a fresh temporary user-data-dir (removed when it closes); each TradingPage gets its own
    context (cookies, localStorage) in it."""
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
    )
    try:
        yield browser
    finally:
        browser.close()


class TradingPage:
    def __init__(self, context: BrowserContext, page: Page, name: str) -> None:
        self.context = context
        self.page = page
        self.name = name
        self.problems: list[str] = []  # uncaught errors and console errors of the page
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("console", self._console)

    @classmethod
    def open(cls, browser: Browser, url: str, name: str) -> TradingPage:
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        trading = cls(context, page, name)
        page.goto(f"{url}/")
        expect(page.locator("body[data-ready=true]")).to_be_attached()
        return trading

    def _console(self, message: ConsoleMessage) -> None:
        kind, text = message.type, message.text
        # Chromium logs a refused request (400, 401: the tests provoke some) and a failed
        # websocket attempt (a matcher restart) by itself; the page shows both, in its
        # error lines and its connection indicator, which the tests check.
        if kind == "error" and not any(known in text for known in CHROMIUM_OWN_ERRORS):
            self.problems.append(f"console error: {text}")

    def by(self, testid: str) -> Locator:
        return self.page.get_by_test_id(testid)

    def close(self) -> None:
        self.context.close()

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)
        return path

    # --- session and symbol ----------------------------------------------------------

    def demo_accounts(self) -> list[str]:
        picker = self.by("demo-key-select")
        expect(picker).to_be_visible()
        return [text.strip() for text in picker.locator("option[data-account]").all_inner_texts()]

    def sign_in_as_demo(self, account: str) -> None:
        self.by("demo-key-select").select_option(label=account)
        expect(self.by("account-label")).to_have_text(account)
        expect(self.by("orders")).to_have_attribute("data-loaded", "true")

    def sign_in_with_key(self, key: str) -> None:
        self.by("api-key-input").fill(key)
        self.by("sign-in").click()
        expect(self.by("signed-in")).to_be_visible()
        expect(self.by("orders")).to_have_attribute("data-loaded", "true")

    def refused_key(self, key: str) -> str:
        self.by("api-key-input").fill(key)
        self.by("sign-in").click()
        expect(self.by("key-error")).to_be_visible()
        return self.by("key-error").inner_text()

    def choose_symbol(self, symbol: str) -> None:
        self.by("symbol-select").select_option(symbol)
        expect(self.by("ticket-symbol")).to_have_text(symbol)

    def expect_connected(self, reconnects: int | None = None) -> None:
        expect(self.by("connection")).to_have_attribute("data-state", "connected")
        expect(self.by("connection-status")).to_have_text("connected")
        if reconnects is not None:
            expect(self.by("reconnect-count")).to_have_text(str(reconnects))

    # --- the ticket ------------------------------------------------------------------

    def fill_ticket(
        self, side: str, price: str, quantity: str, tif: str = "GTC", order_type: str = "limit"
    ) -> None:
        self.by("ticket-side").select_option(side)
        self.by("ticket-type").select_option(order_type)
        self.by("ticket-tif").select_option(tif)
        if order_type == "limit":
            self.by("ticket-price").fill(price)
        self.by("ticket-quantity").fill(quantity)

    def place(self, side: str, price: str, quantity: int, status: str) -> str:
        """Place through the form; the result line must show `status`. The order id."""
        previous = self.by("ticket-result").get_attribute("data-order-id")
        self.fill_ticket(side, price, str(quantity))
        self.by("ticket-submit").click()
        result = self.by("ticket-result")
        if previous is not None:
            expect(result).not_to_have_attribute("data-order-id", previous)
        expect(result).to_have_attribute("data-order-id", re.compile(r"\S+"))
        expect(result).to_contain_text(f": {status.replace('_', ' ')}")
        order_id = result.get_attribute("data-order-id")
        assert order_id is not None
        return order_id

    def field_error(self, field: str) -> Locator:
        return self.by(f"ticket-error-{field}")

    # --- what the page shows ---------------------------------------------------------

    def order_row(self, order_id: str) -> Locator:
        return self.page.locator(f'[data-testid=order-row][data-order-id="{order_id}"]')

    def order_rows(self) -> Locator:
        return self.by("order-row")

    def expect_order(self, order_id: str, status: str) -> Locator:
        row = self.order_row(order_id)
        expect(row).to_have_attribute("data-status", status)
        return row

    def book_level(self, side: str, price: str) -> Locator:
        """The ladder row of `side` ("bid"/"ask") at `price` as the API writes it (100.5)."""
        return self.page.locator(f'[data-testid=book-{side}][data-price="{price}"]')

    def expect_level(self, side: str, price: str, quantity: int | None) -> None:
        """The ladder shows `quantity` at `price` (None: no such level)."""
        level = self.book_level(side, price)
        if quantity is None:
            expect(level).to_have_count(0)
        else:
            expect(level).to_have_attribute("data-quantity", str(quantity))

    def tape_row(self, trade_id: str) -> Locator:
        return self.page.locator(f'[data-testid=tape-row][data-trade-id="{trade_id}"]')

    def tape_rows(self) -> Locator:
        return self.by("tape-row")


@dataclass
class Web:
    """The page's server (tests/web/conftest.py): vercel dev at `url`, the API harness
    behind it, and the two demo accounts the page offers."""

    url: str
    api: Api
    vercel: VercelApi
    keys: dict[str, str]  # demo account -> API key


class PageOpener:
    """`pages("alice")`: a TradingPage of its own (a new browser context), remembered for
    the fixture's teardown."""

    def __init__(self, url: str, browser: Browser) -> None:
        self.url = url
        self.browser = browser
        self.opened: list[TradingPage] = []

    def __call__(self, name: str) -> TradingPage:
        page = TradingPage.open(self.browser, self.url, name)
        self.opened.append(page)
        return page


def update_docs_screenshot() -> bool:
    """SBS_UPDATE_DOCS_SCREENSHOT=1: the test's screenshot also becomes
    docs/images/trading-page.png (the README's picture)."""
    return os.environ.get("SBS_UPDATE_DOCS_SCREENSHOT", "") == "1"
