"""The in-process simulated exchange: a seeded synthetic ETH-perp market, a matching engine for our orders with
a realistic queue model, and the ``sim`` exchange adapter that turns both into core events.

``market``, ``book``, ``matching`` and ``ledger`` know nothing of asyncio or of the core's events, so a local
HTTP/WebSocket server can reuse them; ``simulator`` translates to core events and ``adapter`` adds asyncio.
"""
