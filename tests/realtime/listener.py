"""A real python-socketio AsyncClient that records what it hears, for the tests."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import socketio


@dataclass
class Heard:
    event: str
    data: Any
    at: float  # time.monotonic() on arrival


@dataclass
class Listener:
    url: str
    auth: dict[str, Any] | None = None
    heard: list[Heard] = field(default_factory=list)
    client: socketio.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=True, reconnection_delay=0.2)
        for event in ("trade", "depth", "order"):
            self.client.on(event, self._recorder(event))

    def _recorder(self, event: str) -> Any:
        async def record(data: Any) -> None:
            self.heard.append(Heard(event, data, time.monotonic()))

        return record

    async def connect(self) -> Listener:
        await self.client.connect(
            self.url, transports=["websocket"], auth=self.auth, wait_timeout=10
        )
        return self

    async def subscribe(self, channel: str, symbol: str | None = None) -> Any:
        request = {"channel": channel} if symbol is None else {"channel": channel, "symbol": symbol}
        return await self.client.call("subscribe", request, timeout=10)

    def of(self, event: str) -> list[Any]:
        return [h.data for h in self.heard if h.event == event]

    async def wait_for(self, event: str, count: int, timeout: float = 15.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(self.of(event)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.of(event))} of {count} {event} events heard")
            await asyncio.sleep(0.02)
        return self.of(event)

    async def close(self) -> None:
        await self.client.disconnect()
