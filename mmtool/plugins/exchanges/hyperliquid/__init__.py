"""Hyperliquid exchange support: signing, wire formats, nonces and typed errors (the adapter builds on these)."""
