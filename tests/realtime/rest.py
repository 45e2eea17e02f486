"""The REST side of the Socket.IO tests: place orders, read every trade of a symbol."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.api_harness import Api

Doc = dict[str, Any]


def place(client: httpx.Client, **order: object) -> Doc:
    response = client.post("/api/orders", json=order)
    assert response.status_code == 201, response.text
    body: Doc = response.json()
    return body


async def aplace(client: httpx.Client, **order: object) -> Doc:
    return await asyncio.to_thread(place, client, **order)


def rest_trades(api: Api, symbol: str, after_sequence: int = 0) -> list[Doc]:
    """Every trade of `symbol` from GET /api/trades (all pages), in sequence order."""
    trades: list[Doc] = []
    cursor = None
    while True:
        params = {"symbol": symbol, "after_sequence": str(after_sequence), "limit": "1000"}
        if cursor:
            params["cursor"] = cursor
        page = httpx.get(f"{api.url}/api/trades", params=params, timeout=30).json()
        trades += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return sorted(trades, key=lambda trade: trade["sequence"])
