"""The trading page (public/) in headless Chromium, served by the real `vercel dev --local`
like `make run` serves it, against a real matcher: two accounts trade through the order
ticket and each page shows the trade, the book and its own orders live; a refused order
shows the API's error next to its field; the connection indicator follows a matcher
restart.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
from playwright.sync_api import expect

from tests.api_harness import PROJECT_ROOT
from tests.web.trading import PageOpener, Web, update_docs_screenshot

# Books of their own: no other test places orders on these symbols.
SYMBOL, RESTART_SYMBOL = "S70", "S71"
DOCS_SCREENSHOT = PROJECT_ROOT / "docs" / "images" / "trading-page.png"


def test_two_accounts_trade_through_the_page_and_both_see_it_live(
    web: Web, pages: PageOpener, artifacts: Path
) -> None:
    alice = pages("alice")
    assert alice.demo_accounts() == ["alice", "bob"]  # make run's demo keys, offered locally
    alice.sign_in_as_demo("alice")
    alice.choose_symbol(SYMBOL)
    alice.expect_connected()

    ask = alice.place("sell", "100.50", 10, "open")
    alice.expect_order(ask, "open")
    alice.expect_level("ask", "100.5", 10)  # from the `depth` channel

    bob = pages("bob")
    assert "unauthorized" in bob.refused_key("sbs_00000000_" + "A" * 43)
    bob.sign_in_with_key(web.keys["bob"])
    bob.choose_symbol(SYMBOL)
    bob.expect_connected()
    expect(bob.order_row(ask)).to_have_count(0)  # alice's order is not bob's

    bid = bob.place("buy", "100.50", 4, "filled")
    bob.expect_order(bid, "filled")
    # Alice's page hears of it by itself: the trade on the tape, her order's new status
    # (private `order` event), what is left of her ask in the ladder.
    trade = alice.tape_rows().first
    expect(trade).to_have_attribute("data-price", "100.5")
    expect(trade).to_have_attribute("data-qty", "4")
    expect(alice.tape_rows()).to_have_count(1)
    alice.expect_order(ask, "partially_filled")
    expect(alice.order_row(ask).get_by_test_id("order-traded")).to_have_text("4")
    alice.expect_level("ask", "100.5", 6)
    # Bob's page shows the same trade, and only bob's order.
    trade_id = trade.get_attribute("data-trade-id")
    assert trade_id
    expect(bob.tape_row(trade_id)).to_have_attribute("data-qty", "4")
    expect(bob.order_row(bid)).to_have_count(1)
    expect(bob.order_row(ask)).to_have_count(0)  # nor did its `order` events reach bob
    bob.expect_level("ask", "100.5", 6)

    # Modify: a new total quantity of 12 leaves 8 on the book; then cancel the rest.
    row = alice.order_row(ask)
    row.get_by_test_id("order-modify").click()
    alice.by("modify-quantity").fill("12")
    alice.by("modify-save").click()
    expect(alice.order_row(ask).get_by_test_id("order-quantity")).to_have_text("12")
    alice.expect_level("ask", "100.5", 8)
    alice.order_row(ask).get_by_test_id("order-cancel").click()
    alice.expect_order(ask, "cancelled")
    expect(alice.order_row(ask).get_by_test_id("order-cancel")).to_have_count(0)
    alice.expect_level("ask", "100.5", None)
    bob.expect_level("ask", "100.5", None)

    # A fuller book and tape for the picture: a third account quotes 5 levels a side and
    # trades a little, through the REST API; alice keeps an open bid.
    alice.place("buy", "99.70", 5, "open")
    _make_a_market(web)
    expect(alice.by("book-ask")).to_have_count(5)
    expect(alice.by("book-bid")).to_have_count(5)
    expect(alice.tape_rows()).to_have_count(4)
    shot = alice.screenshot(artifacts / "two-accounts-alice.png")
    bob.screenshot(artifacts / "two-accounts-bob.png")
    if update_docs_screenshot():
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)


def _make_a_market(web: Web) -> None:
    maker, taker = web.api.trader("maker"), web.api.trader("taker")
    quotes = [("sell", f"{100.6 + i / 10:.2f}", 10 * (i + 1)) for i in range(6)]
    quotes += [("buy", f"{99.9 - i / 10:.2f}", 10 * (i + 1)) for i in range(6)]
    for side, price, quantity in quotes:
        _place(maker, side=side, price=price, quantity=quantity)
    for side, price in (("buy", "100.60"), ("sell", "99.90"), ("buy", "100.70")):
        _place(taker, side=side, price=price, quantity=3)


def _place(client: httpx.Client, **order: object) -> None:
    response = client.post("/api/orders", json={"symbol": SYMBOL, **order})
    assert response.status_code == 201, response.text


def test_a_refused_order_shows_the_apis_error_next_to_its_field(
    web: Web, pages: PageOpener, artifacts: Path
) -> None:
    bob = pages("bob")
    bob.sign_in_as_demo("bob")
    bob.choose_symbol(SYMBOL)
    bob.page.reload()  # the key and the symbol are kept (localStorage)
    expect(bob.by("account-label")).to_have_text("bob")
    expect(bob.by("ticket-symbol")).to_have_text(SYMBOL)
    expect(bob.by("orders")).to_have_attribute("data-loaded", "true")
    rows = bob.order_rows().count()

    bob.fill_ticket("buy", "100.005", "1")
    bob.by("ticket-submit").click()
    error = bob.field_error("price")
    expect(error).to_be_visible()
    expect(error).to_contain_text("not a multiple of the tick size 0.01 (price_off_tick)")
    expect(bob.by("ticket-price")).to_have_attribute("aria-invalid", "true")
    expect(bob.field_error("quantity")).to_be_hidden()
    bob.screenshot(artifacts / "refused-order.png")

    bob.fill_ticket("buy", "100.01", "ten")
    bob.by("ticket-submit").click()
    expect(bob.field_error("quantity")).to_contain_text("(invalid_quantity)")
    expect(bob.field_error("price")).to_be_hidden()  # cleared on the new attempt

    bob.fill_ticket("buy", "", "1")
    bob.by("ticket-submit").click()
    expect(bob.field_error("price")).to_contain_text("(limit_order_without_price)")

    bob.fill_ticket("sell", "100.00", "1", tif="IOC")
    bob.by("ticket-post-only").check()
    bob.by("ticket-submit").click()
    expect(bob.field_error("post-only")).to_contain_text("(invalid_post_only)")
    expect(bob.order_rows()).to_have_count(rows)  # nothing was placed

    bob.by("sign-out").click()
    expect(bob.by("orders-signed-out")).to_be_visible()
    expect(bob.order_rows()).to_have_count(0)
    bob.fill_ticket("buy", "100.01", "1")
    bob.by("ticket-submit").click()
    expect(bob.by("ticket-error")).to_have_text("Sign in with an API key first.")


def test_the_connection_indicator_follows_a_matcher_restart(web: Web, pages: PageOpener) -> None:
    alice = pages("alice")
    alice.sign_in_as_demo("alice")
    alice.choose_symbol(RESTART_SYMBOL)
    alice.expect_connected(reconnects=0)

    web.api.matcher.kill()  # the matcher serves Socket.IO: the page loses it
    expect(alice.by("connection")).to_have_attribute("data-state", "reconnecting")
    web.api.matcher.start()
    web.api.matcher.wait_role("leader")  # once the killed one's lease has run out
    alice.expect_connected(reconnects=1)

    # Subscribed again: a trade after the restart reaches the tape and the book.
    bob = pages("bob")
    bob.sign_in_as_demo("bob")
    bob.choose_symbol(RESTART_SYMBOL)
    ask = alice.place("sell", "20.00", 5, "open")
    bob.place("buy", "20.00", 2, "filled")
    expect(alice.tape_rows()).to_have_count(1)
    alice.expect_order(ask, "partially_filled")
    alice.expect_level("ask", "20", 3)
