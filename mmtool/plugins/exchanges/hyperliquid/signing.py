"""Hyperliquid request signing and signer recovery: L1 actions (phantom agent) and user-signed actions.

Both kinds are EIP-712 typed data signed with secp256k1. We compute the EIP-712 digest ourselves (the domain
separators and type hashes once, then three keccaks per L1 action) and sign it with libsecp256k1 through
``coincurve``, which is several times faster than going through ``eth_account``'s generic typed-data encoder.
Signatures are deterministic (RFC 6979, low ``s``), so they equal the official SDK's byte for byte.

- L1 actions (orders, cancels, modifies, leverage, ...): ``connectionId = keccak(msgpack(action) ‖ nonce (8 bytes
  BE) ‖ vault flag [‖ vault address] [‖ 0x00 ‖ expiresAfter (8 bytes BE)])``, signed as the phantom agent
  ``Agent(string source, bytes32 connectionId)`` with ``source`` "a" on mainnet, "b" on testnet, in the domain
  ``{name "Exchange", version "1", chainId 1337, verifyingContract 0x0}``.
- User-signed actions (approveAgent, usdSend, withdraw3, ...): the action's own fields under a primary type such as
  ``HyperliquidTransaction:ApproveAgent``, in the domain ``{name "HyperliquidSignTransaction", version "1",
  chainId int(signatureChainId, 16), verifyingContract 0x0}``.

The signature goes on the wire as ``{"r": "0x..", "s": "0x..", "v": 27|28}`` with ``r`` and ``s`` in lower-case
hex without leading zeros, as the SDK formats them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import coincurve
import msgpack
from Crypto.Hash import keccak as _cryptodome_keccak

from mmtool.plugins.exchanges.hyperliquid.errors import InvalidSignature

try:  # safe-pysha3's C keccak is about 6x faster than pycryptodome's ctypes one; both give the same bytes.
    from sha3 import keccak_256 as _pysha3_keccak_256
except ImportError:  # pragma: no cover - depends on what is installed
    _pysha3_keccak_256 = None

MAINNET_SOURCE = "a"
TESTNET_SOURCE = "b"
L1_CHAIN_ID = 1337
#: The chain id the SDK signs user-signed actions with (any chain works; the exchange reads it from the action).
DEFAULT_SIGNATURE_CHAIN_ID = "0x66eee"
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

#: A user-signed type: the primary type name and its fields as ``{"name", "type"}`` (the SDK's format).
TypeFields = Sequence[Mapping[str, str]]

APPROVE_AGENT_PRIMARY_TYPE = "HyperliquidTransaction:ApproveAgent"
APPROVE_AGENT_TYPES: tuple[Mapping[str, str], ...] = (
    {"name": "hyperliquidChain", "type": "string"},
    {"name": "agentAddress", "type": "address"},
    {"name": "agentName", "type": "string"},
    {"name": "nonce", "type": "uint64"},
)
USD_SEND_PRIMARY_TYPE = "HyperliquidTransaction:UsdSend"
USD_SEND_TYPES: tuple[Mapping[str, str], ...] = (
    {"name": "hyperliquidChain", "type": "string"},
    {"name": "destination", "type": "string"},
    {"name": "amount", "type": "string"},
    {"name": "time", "type": "uint64"},
)
WITHDRAW_PRIMARY_TYPE = "HyperliquidTransaction:Withdraw"
WITHDRAW_TYPES: tuple[Mapping[str, str], ...] = USD_SEND_TYPES


def _keccak_cryptodome(data: bytes) -> bytes:
    return _cryptodome_keccak.new(digest_bits=256, data=data).digest()


def _keccak_pysha3(data: bytes) -> bytes:
    return _pysha3_keccak_256(data).digest()  # type: ignore[misc]


#: keccak-256 of ``data`` (Ethereum's hash), through the fastest backend installed.
keccak256 = _keccak_pysha3 if _pysha3_keccak_256 is not None else _keccak_cryptodome


def to_checksum_address(address: str | bytes) -> str:
    """The EIP-55 mixed-case form of a 20-byte address given as bytes or hex."""
    raw = address if isinstance(address, bytes) else address_to_bytes(address)
    if len(raw) != 20:
        raise ValueError(f"an address is 20 bytes (got {len(raw)})")
    lower = raw.hex()
    hashed = keccak256(lower.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if int(h, 16) >= 8 else c for c, h in zip(lower, hashed[:40], strict=True))


def address_to_bytes(address: str) -> bytes:
    """The 20 bytes of a hex address, with or without ``0x``, any case."""
    text = address[2:] if address[:2] in ("0x", "0X") else address
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"not a hex address: {address!r}") from None
    if len(raw) != 20:
        raise ValueError(f"an address is 20 bytes (got {len(raw)} in {address!r})")
    return raw


# ------------------------------------------------------------------------------------------------- EIP-712


_DOMAIN_TYPE_HASH = keccak256(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
_AGENT_TYPE_HASH = keccak256(b"Agent(string source,bytes32 connectionId)")


@functools.lru_cache(maxsize=64)
def domain_separator(name: str, version: str, chain_id: int, verifying_contract: str = ZERO_ADDRESS) -> bytes:
    """The EIP-712 domain separator (cached: computed once per domain)."""
    return keccak256(
        _DOMAIN_TYPE_HASH
        + keccak256(name.encode())
        + keccak256(version.encode())
        + chain_id.to_bytes(32, "big")
        + bytes(12)
        + address_to_bytes(verifying_contract)
    )


_L1_PREFIX = b"\x19\x01" + domain_separator("Exchange", "1", L1_CHAIN_ID)
#: The constant head of the Agent struct hash's preimage for each network: typeHash ‖ keccak(source).
_AGENT_HEAD = {
    True: _AGENT_TYPE_HASH + keccak256(MAINNET_SOURCE.encode()),
    False: _AGENT_TYPE_HASH + keccak256(TESTNET_SOURCE.encode()),
}


def action_hash(action: Any, vault_address: str | None, nonce: int, expires_after: int | None) -> bytes:
    """The L1 action's ``connectionId``: keccak of its msgpack bytes, nonce, vault and expiry (see module doc).

    ``msgpack.packb`` keeps the dict's key order, which is why wire dicts must be built in the exchange's order.
    """
    data = msgpack.packb(action) + nonce.to_bytes(8, "big")
    data += b"\x00" if vault_address is None else b"\x01" + address_to_bytes(vault_address)
    if expires_after is not None:
        data += b"\x00" + expires_after.to_bytes(8, "big")
    return keccak256(data)


def l1_digest_from_hash(connection_id: bytes, is_mainnet: bool) -> bytes:
    """The EIP-712 digest of the phantom agent for a ``connectionId``."""
    return keccak256(_L1_PREFIX + keccak256(_AGENT_HEAD[is_mainnet] + connection_id))


def l1_digest(
    action: Any, vault_address: str | None, nonce: int, expires_after: int | None, is_mainnet: bool
) -> bytes:
    """The EIP-712 digest an L1 action is signed over."""
    return l1_digest_from_hash(action_hash(action, vault_address, nonce, expires_after), is_mainnet)


@functools.lru_cache(maxsize=64)
def _type_hash(primary_type: str, fields: tuple[tuple[str, str], ...]) -> bytes:
    return keccak256(f"{primary_type}({','.join(f'{t} {n}' for n, t in fields)})".encode())


def _encode_value(kind: str, value: Any, name: str) -> bytes:
    if kind == "string":
        if not isinstance(value, str):
            raise ValueError(f"{name}: a string field needs a str (got {type(value).__name__})")
        return keccak256(value.encode())
    if kind == "address":
        return bytes(12) + address_to_bytes(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name}: a bool field needs a bool (got {type(value).__name__})")
        return int(value).to_bytes(32, "big")
    if kind.startswith("uint"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value.bit_length() > int(kind[4:]):
            raise ValueError(f"{name}: must be an integer in [0, 2**{kind[4:]}) (got {value!r})")
        return value.to_bytes(32, "big")
    if kind == "bytes32":
        raw = bytes.fromhex(value[2:] if value.startswith("0x") else value) if isinstance(value, str) else value
        if not isinstance(raw, bytes) or len(raw) != 32:
            raise ValueError(f"{name}: a bytes32 field needs 32 bytes")
        return raw
    raise ValueError(f"{name}: unsupported EIP-712 field type {kind!r}")


def _chain_name(is_mainnet: bool) -> str:
    return "Mainnet" if is_mainnet else "Testnet"


def user_digest(action: Mapping[str, Any], types: TypeFields, primary_type: str, is_mainnet: bool) -> bytes:
    """The EIP-712 digest a user-signed action is signed over.

    The action must carry ``signatureChainId`` (hex) and a ``hyperliquidChain`` matching ``is_mainnet`` (the
    builders in :mod:`~mmtool.plugins.exchanges.hyperliquid.wire` add both), because the exchange reads them from
    the posted action. A ``string`` field absent from the action is signed as ``""``: that is how the exchange
    treats approveAgent without ``agentName``.
    """
    if "signatureChainId" not in action:
        raise ValueError("a user-signed action needs signatureChainId (e.g. '0x66eee')")
    expected_chain = _chain_name(is_mainnet)
    if action.get("hyperliquidChain") != expected_chain:
        raise ValueError(f"hyperliquidChain must be {expected_chain!r} (got {action.get('hyperliquidChain')!r})")
    fields = tuple((f["name"], f["type"]) for f in types)
    parts = [_type_hash(primary_type, fields)]
    for name, kind in fields:
        if name in action:
            value = action[name]
        elif kind == "string":
            value = ""
        else:
            raise ValueError(f"{name}: missing from the {primary_type} action")
        parts.append(_encode_value(kind, value, name))
    chain_id = int(action["signatureChainId"], 16)
    domain = domain_separator("HyperliquidSignTransaction", "1", chain_id)
    return keccak256(b"\x19\x01" + domain + keccak256(b"".join(parts)))


# ------------------------------------------------------------------------------------------- signatures


def signature_to_wire(sig65: bytes) -> dict[str, Any]:
    """A 65-byte ``r ‖ s ‖ recovery id`` signature as the exchange wants it: ``{"r", "s", "v"}``."""
    return {
        "r": hex(int.from_bytes(sig65[:32], "big")),
        "s": hex(int.from_bytes(sig65[32:64], "big")),
        "v": 27 + sig65[64],
    }


def signature_from_wire(signature: Mapping[str, Any]) -> bytes:
    """The 65-byte ``r ‖ s ‖ recovery id`` form of a wire signature; :class:`InvalidSignature` if malformed."""
    try:
        r = int(signature["r"], 16)
        s = int(signature["s"], 16)
        v = int(signature["v"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidSignature(f"malformed signature: {exc}") from None
    if v not in (27, 28) or not (0 < r < 2**256) or not (0 < s < 2**256):
        raise InvalidSignature("malformed signature: v must be 27 or 28 and r, s 256-bit positive integers")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v - 27])


def recover_digest_signer(digest: bytes, signature: Mapping[str, Any]) -> str:
    """The checksummed address whose key produced ``signature`` over the 32-byte ``digest``."""
    try:
        public = coincurve.PublicKey.from_signature_and_message(signature_from_wire(signature), digest, hasher=None)
    except (ValueError, TypeError) as exc:
        raise InvalidSignature(f"signature does not recover to a public key: {exc}") from None
    return to_checksum_address(keccak256(public.format(compressed=False)[1:])[-20:])


def recover_l1_signer(
    action: Any,
    vault_address: str | None,
    nonce: int,
    expires_after: int | None,
    is_mainnet: bool,
    signature: Mapping[str, Any],
) -> str:
    """The checksummed address that signed an L1 action (the account or one of its agents, if genuine)."""
    return recover_digest_signer(l1_digest(action, vault_address, nonce, expires_after, is_mainnet), signature)


def recover_user_signer(
    action: Mapping[str, Any],
    types: TypeFields,
    primary_type: str,
    is_mainnet: bool,
    signature: Mapping[str, Any],
) -> str:
    """The checksummed address that signed a user-signed action."""
    return recover_digest_signer(user_digest(action, types, primary_type, is_mainnet), signature)


class Signer:
    """Signs Hyperliquid actions with one private key; only the address is ever shown.

    The key lives in a ``coincurve.PrivateKey``; ``repr``/``str`` show the address only and no error message
    carries the key.
    """

    __slots__ = ("_key", "address")

    def __init__(self, private_key_hex: str) -> None:
        text = private_key_hex[2:] if private_key_hex[:2] in ("0x", "0X") else private_key_hex
        try:
            secret = bytes.fromhex(text)
        except (ValueError, TypeError):
            raise ValueError("private key must be 32 bytes of hex") from None
        if len(secret) != 32:
            raise ValueError("private key must be 32 bytes of hex")
        try:
            self._key = coincurve.PrivateKey(secret)
        except ValueError:
            raise ValueError("private key is not a valid secp256k1 scalar") from None
        #: The checksummed address of the key.
        self.address: str = to_checksum_address(keccak256(self._key.public_key.format(compressed=False)[1:])[-20:])

    def __repr__(self) -> str:
        return f"Signer(address={self.address})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a Signer cannot be pickled or copied (it holds a private key)")

    def sign_digest(self, digest: bytes) -> dict[str, Any]:
        """Sign a 32-byte digest as is (no hashing) and return the wire signature."""
        return signature_to_wire(self._key.sign_recoverable(digest, hasher=None))

    def sign_l1_action(
        self,
        action: Any,
        vault_address: str | None,
        nonce: int,
        expires_after: int | None,
        is_mainnet: bool,
    ) -> dict[str, Any]:
        """Sign an L1 action (order, cancel, modify, ...) for ``nonce``; equal to the SDK's ``sign_l1_action``."""
        return self.sign_digest(l1_digest(action, vault_address, nonce, expires_after, is_mainnet))

    def sign_user_action(
        self, action: Mapping[str, Any], types: TypeFields, primary_type: str, is_mainnet: bool
    ) -> dict[str, Any]:
        """Sign a user-signed action (approveAgent, usdSend, withdraw3, ...); see :func:`user_digest`."""
        return self.sign_digest(user_digest(action, types, primary_type, is_mainnet))
