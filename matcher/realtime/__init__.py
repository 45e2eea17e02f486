"""Live market data over Socket.IO: the hub every serving process runs (see hub.py)."""

from matcher.realtime.hub import MarketDataHub, key_authenticator

__all__ = ["MarketDataHub", "key_authenticator"]
