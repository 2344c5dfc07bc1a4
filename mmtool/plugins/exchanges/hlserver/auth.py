"""Who may act on which account: signature recovery, agents (API wallets), vaults and nonces, as the exchange does it.

An ``/exchange`` request is accepted only when the address recovered from its signature is the account itself or
an agent that account approved (``approveAgent``, user-signed); with ``vaultAddress`` the account is the vault and
the signer must be it or its agent. A signer the exchange does not know (a wrong key, a tampered action, a
signature for the other network: all recover some unrelated address) gets the exchange's
``User or API Wallet 0x... does not exist.``

Nonces are kept per signer: the 100 highest; a new one must be unused, above the smallest of them (once 100 are
held) and within (now - 2 days, now + 1 day).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Any

import attrs

from mmtool.plugins.exchanges.hlserver.accounts import Account
from mmtool.plugins.exchanges.hlserver.numbers import is_int
from mmtool.plugins.exchanges.hlserver.venue import Venue
from mmtool.plugins.exchanges.hyperliquid.errors import InvalidSignature
from mmtool.plugins.exchanges.hyperliquid.signing import (
    APPROVE_AGENT_PRIMARY_TYPE,
    APPROVE_AGENT_TYPES,
    address_to_bytes,
    recover_l1_signer,
    recover_user_signer,
)

NONCES_KEPT = 100
MAX_NONCE_AGE_MS = 2 * 24 * 3600 * 1000
MAX_NONCE_LEAD_MS = 24 * 3600 * 1000
#: User-signed action types: (EIP-712 fields, primary type). Everything else is an L1 action.
USER_SIGNED: dict[str, tuple[Any, str]] = {"approveAgent": (APPROVE_AGENT_TYPES, APPROVE_AGENT_PRIMARY_TYPE)}


def unknown_signer(address: str) -> str:
    """The exchange's text for a signer that is neither an account nor an approved agent."""
    return f"User or API Wallet {address.lower()} does not exist."


def is_address(value: Any) -> bool:
    """True for a ``0x``-prefixed 20-byte hex string."""
    if not isinstance(value, str) or len(value) != 42 or not value.startswith("0x"):
        return False
    try:
        address_to_bytes(value)
    except ValueError:
        return False
    return True


class NonceStore:
    """The highest :data:`NONCES_KEPT` nonces of every signer."""

    def __init__(self) -> None:
        self._heaps: dict[str, list[int]] = {}
        self._sets: dict[str, set[int]] = {}

    def check(self, signer: str, nonce: int, now_ms: int) -> str | None:
        """None when ``nonce`` is acceptable for ``signer`` now, else the exchange's error text."""
        used = self._sets.get(signer, set())
        if nonce in used:
            return f"Invalid nonce: duplicate nonce {nonce}"
        heap = self._heaps.get(signer, [])
        if len(heap) >= NONCES_KEPT and nonce <= heap[0]:
            return f"Invalid nonce: nonce {nonce} is lower than the lowest of the last {NONCES_KEPT} nonces ({heap[0]})"
        if not now_ms - MAX_NONCE_AGE_MS < nonce < now_ms + MAX_NONCE_LEAD_MS:
            return f"Invalid nonce: nonce {nonce} is outside the window (now - 2 days, now + 1 day), now {now_ms}"
        return None

    def commit(self, signer: str, nonce: int) -> None:
        """Record a used nonce, forgetting the smallest beyond the kept number."""
        heap = self._heaps.setdefault(signer, [])
        used = self._sets.setdefault(signer, set())
        heapq.heappush(heap, nonce)
        used.add(nonce)
        if len(heap) > NONCES_KEPT:
            used.discard(heapq.heappop(heap))


@attrs.frozen
class Authorized:
    """An accepted request: the account it acts on and the address that signed it (the account or an agent)."""

    account: Account
    signer: str


def _recover(
    action: Mapping[str, Any], vault: str | None, nonce: int, expires_after: int | None,
    signature: Mapping[str, Any], is_mainnet: bool,
) -> str:
    kind = action.get("type")
    if kind in USER_SIGNED:
        types, primary = USER_SIGNED[kind]
        return recover_user_signer(action, types, primary, is_mainnet, signature)
    return recover_l1_signer(action, vault, nonce, expires_after, is_mainnet, signature)


def authenticate(
    venue: Venue, nonces: NonceStore, action: Mapping[str, Any], nonce: int, signature: Mapping[str, Any],
    vault: str | None, expires_after: int | None, is_mainnet: bool,
) -> Authorized | str:
    """The account and signer of a request, or the exchange's error text; commits the nonce when accepted."""
    now = venue.now_ms
    if expires_after is not None and expires_after < now:
        return f"Action expired: expiresAfter {expires_after} is before now ({now})."
    kind = action.get("type")
    if kind in USER_SIGNED:
        expected = "Mainnet" if is_mainnet else "Testnet"
        if action.get("hyperliquidChain") != expected:
            return f"Invalid hyperliquidChain: this exchange is {expected}."
        chain_id = action.get("signatureChainId")
        if not isinstance(chain_id, str) or not chain_id.startswith("0x"):
            return "Invalid signatureChainId: expected a hex string such as 0x66eee."
        if action.get("nonce") != nonce:
            return "Invalid nonce: the action's nonce must equal the request's nonce."
        if vault is not None:
            return "vaultAddress is not allowed on user-signed actions."
    try:
        signer = _recover(action, vault, nonce, expires_after, signature, is_mainnet).lower()
    except (InvalidSignature, ValueError, TypeError, OverflowError) as exc:
        return f"Invalid signature: {exc}"
    if kind in USER_SIGNED:
        account = venue.accounts.get(signer)
        if account is None:
            return unknown_signer(signer)
    elif vault is not None:
        account = venue.accounts.get(vault.lower())
        agent = venue.agents.get(signer)
        if account is None or not (signer == account.address or (agent is not None and agent[0] == account.address)):
            return unknown_signer(signer)
    else:
        agent = venue.agents.get(signer)
        owner = agent[0] if agent is not None else signer
        account = venue.accounts.get(owner)
        if account is None:
            return unknown_signer(signer)
    error = nonces.check(signer, nonce, now)
    if error is not None:
        return error
    nonces.commit(signer, nonce)
    return Authorized(account, signer)


def approve_agent(venue: Venue, account: Account, action: Mapping[str, Any]) -> str | None:
    """Register the agent of an authenticated ``approveAgent``; None or an error text.

    As on the exchange, an unnamed agent replaces the account's previous unnamed one and a named agent replaces
    the previous agent of that name.
    """
    agent = action.get("agentAddress")
    name = action.get("agentName", "")
    if not is_address(agent) or not isinstance(name, str):
        return "Invalid approveAgent: agentAddress must be an address and agentName a string."
    agent = agent.lower()
    if agent == account.address or agent in venue.accounts:
        return f"Agent address {agent} is already used by an account."
    owner = venue.agents.get(agent)
    if owner is not None and owner[0] != account.address:
        return f"Agent address {agent} is already used by another account."
    for address, (user, agent_name) in list(venue.agents.items()):
        if user == account.address and agent_name == name:
            del venue.agents[address]
    venue.agents[agent] = (account.address, name)
    return None


def valid_nonce_type(value: Any) -> bool:
    """True for a JSON integer that fits a u64."""
    return is_int(value) and 0 <= value < 2**64
