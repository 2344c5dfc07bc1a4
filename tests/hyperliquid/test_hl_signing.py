"""Our signer against the official SDK and eth-account: same digests, same signatures, same recovered signers."""

from __future__ import annotations

import pickle
from decimal import Decimal

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak as eth_keccak
from eth_utils import to_checksum_address as eth_checksum
from hyperliquid.utils import signing as sdk
from hypothesis import given, settings
from hypothesis import strategies as st

from mmtool.core.types import Tif
from mmtool.plugins.exchanges.hyperliquid import signing
from mmtool.plugins.exchanges.hyperliquid import wire as w
from mmtool.plugins.exchanges.hyperliquid.errors import InvalidSignature
from mmtool.plugins.exchanges.hyperliquid.signing import (
    APPROVE_AGENT_PRIMARY_TYPE,
    APPROVE_AGENT_TYPES,
    USD_SEND_PRIMARY_TYPE,
    USD_SEND_TYPES,
    WITHDRAW_PRIMARY_TYPE,
    WITHDRAW_TYPES,
    Signer,
    action_hash,
    l1_digest,
    recover_l1_signer,
    recover_user_signer,
    user_digest,
)

KEY = "0x" + "4c" * 32
VAULT = "0x" + "ab" * 20
NONCE = 1_700_000_000_123
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
CLOID = "0x" + "0123456789abcdef" * 2

WALLET = Account.from_key(KEY)
SIGNER = Signer(KEY)


def _order(px: str = "3500.5", sz: str = "0.0123", cloid: str | None = CLOID) -> dict:
    return w.order_wire(1, True, Decimal(px), Decimal(sz), False, Tif.ALO, cloid)


ACTIONS = {
    "order": w.order_action([_order(), _order("3499", "1", None)]),
    "order-trigger": w.order_action(
        [w.order_wire(0, False, Decimal("60000"), Decimal("0.001"), True, w.Trigger(Decimal("59000"), True, "sl"))],
        grouping="normalTpsl",
    ),
    "order-builder": w.order_action([_order()], builder=w.Builder("0x" + "Cd" * 20, 10)),
    "cancel": w.cancel_action([(1, 123456789), (0, 1)]),
    "cancelByCloid": w.cancel_by_cloid_action([(1, CLOID)]),
    "modify": w.modify_action(987654321, _order()),
    "modify-cloid": w.modify_action(CLOID, _order()),
    "batchModify": w.batch_modify_action([(1, _order()), (CLOID, _order("3400", "2"))]),
    "scheduleCancel": w.schedule_cancel_action(NONCE + 60_000),
    "scheduleCancel-clear": w.schedule_cancel_action(None),
    "updateLeverage": w.update_leverage_action(3, True, 10),
}


@pytest.mark.parametrize("name", sorted(ACTIONS))
@pytest.mark.parametrize("vault", [None, VAULT])
@pytest.mark.parametrize("expires_after", [None, NONCE + 5_000])
@pytest.mark.parametrize("is_mainnet", [True, False])
def test_l1_signature_equals_sdk(name: str, vault: str | None, expires_after: int | None, is_mainnet: bool) -> None:
    action = ACTIONS[name]
    ours = SIGNER.sign_l1_action(action, vault, NONCE, expires_after, is_mainnet)
    assert ours == sdk.sign_l1_action(WALLET, action, vault, NONCE, expires_after, is_mainnet)
    assert action_hash(action, vault, NONCE, expires_after) == sdk.action_hash(action, vault, NONCE, expires_after)
    assert recover_l1_signer(action, vault, NONCE, expires_after, is_mainnet, ours) == WALLET.address


def test_mainnet_and_testnet_signatures_differ() -> None:
    action = ACTIONS["order"]
    assert SIGNER.sign_l1_action(action, None, NONCE, None, True) != SIGNER.sign_l1_action(
        action, None, NONCE, None, False
    )


@settings(max_examples=40, deadline=None)
@given(
    key=st.integers(1, SECP256K1_N - 1),
    asset=st.integers(0, 300),
    is_buy=st.booleans(),
    px_m=st.integers(1, 99_999),
    px_e=st.integers(0, 6),
    sz_m=st.integers(1, 10**9),
    sz_e=st.integers(0, 5),
    tif=st.sampled_from(list(Tif)),
    cloid=st.one_of(st.none(), st.binary(min_size=16, max_size=16).map(lambda b: "0x" + b.hex())),
    nonce=st.integers(0, 2**63),
    vault=st.one_of(st.none(), st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())),
    expires_after=st.one_of(st.none(), st.integers(0, 2**63)),
    is_mainnet=st.booleans(),
)
def test_random_orders_sign_like_sdk(
    key, asset, is_buy, px_m, px_e, sz_m, sz_e, tif, cloid, nonce, vault, expires_after, is_mainnet
) -> None:
    key_hex = f"0x{key:064x}"
    action = w.order_action(
        [w.order_wire(asset, is_buy, Decimal(px_m).scaleb(-px_e), Decimal(sz_m).scaleb(-sz_e), False, tif, cloid)]
    )
    ours = Signer(key_hex).sign_l1_action(action, vault, nonce, expires_after, is_mainnet)
    wallet = Account.from_key(key_hex)
    assert ours == sdk.sign_l1_action(wallet, action, vault, nonce, expires_after, is_mainnet)
    assert recover_l1_signer(action, vault, nonce, expires_after, is_mainnet, ours) == wallet.address


def test_digest_agrees_with_eth_account_typed_data() -> None:
    """Independent of the SDK: eth-account's own EIP-712 encoder gives our digest and recovers our signature."""
    action = ACTIONS["batchModify"]
    connection_id = action_hash(action, VAULT, NONCE, None)
    typed = encode_typed_data(
        full_message={
            "domain": {"name": "Exchange", "version": "1", "chainId": 1337, "verifyingContract": "0x" + "00" * 20},
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "Agent": [{"name": "source", "type": "string"}, {"name": "connectionId", "type": "bytes32"}],
            },
            "primaryType": "Agent",
            "message": {"source": "b", "connectionId": connection_id},
        }
    )
    expected = eth_keccak(b"\x19" + typed.version + typed.header + typed.body)
    assert l1_digest(action, VAULT, NONCE, None, False) == expected
    sig = SIGNER.sign_l1_action(action, VAULT, NONCE, None, False)
    vrs = (sig["v"], int(sig["r"], 16), int(sig["s"], 16))
    assert Account.recover_message(typed, vrs=vrs) == WALLET.address


def test_tampered_action_recovers_a_different_address() -> None:
    action = w.order_action([_order()])
    sig = SIGNER.sign_l1_action(action, None, NONCE, None, True)
    tampered = w.order_action([_order(px="3500.6")])
    assert recover_l1_signer(tampered, None, NONCE, None, True, sig) != WALLET.address
    assert recover_l1_signer(action, None, NONCE + 1, None, True, sig) != WALLET.address
    assert recover_l1_signer(action, None, NONCE, None, False, sig) != WALLET.address
    assert recover_l1_signer(action, VAULT, NONCE, None, True, sig) != WALLET.address


def test_signature_hex_has_no_leading_zeros_like_sdk() -> None:
    """r or s below 2**248 is written without leading zeros, exactly as the SDK writes it."""
    action = ACTIONS["cancel"]
    for nonce in range(5000):
        sig = SIGNER.sign_l1_action(action, None, nonce, None, True)
        if len(sig["r"]) < 66 or len(sig["s"]) < 66:
            break
    else:
        pytest.fail("no short r or s in 5000 signatures")
    assert sig == sdk.sign_l1_action(WALLET, action, None, nonce, None, True)
    assert recover_l1_signer(action, None, nonce, None, True, sig) == WALLET.address


# ---------------------------------------------------------------------------------------------- user-signed


AGENT = "0x" + "5e" * 20


@pytest.mark.parametrize("is_mainnet", [True, False])
@pytest.mark.parametrize("name", ["mm-bot", None])
def test_approve_agent_equals_sdk(is_mainnet: bool, name: str | None) -> None:
    ours_action = w.approve_agent_action(AGENT, name, NONCE, is_mainnet)
    ours = SIGNER.sign_user_action(ours_action, APPROVE_AGENT_TYPES, APPROVE_AGENT_PRIMARY_TYPE, is_mainnet)
    sdk_action = {"type": "approveAgent", "agentAddress": AGENT, "agentName": name or "", "nonce": NONCE}
    assert ours == sdk.sign_agent(WALLET, sdk_action, is_mainnet)
    if name is None:
        del sdk_action["agentName"]
    assert ours_action == sdk_action  # what the SDK posts, key order aside
    assert (
        recover_user_signer(ours_action, APPROVE_AGENT_TYPES, APPROVE_AGENT_PRIMARY_TYPE, is_mainnet, ours)
        == WALLET.address
    )


@pytest.mark.parametrize(
    ("builder", "types", "primary", "sdk_sign"),
    [
        (w.usd_send_action, USD_SEND_TYPES, USD_SEND_PRIMARY_TYPE, sdk.sign_usd_transfer_action),
        (w.withdraw_action, WITHDRAW_TYPES, WITHDRAW_PRIMARY_TYPE, sdk.sign_withdraw_from_bridge_action),
    ],
)
def test_transfers_equal_sdk(builder, types, primary, sdk_sign) -> None:
    action = builder(AGENT, Decimal("12.5"), NONCE, True)
    ours = SIGNER.sign_user_action(action, types, primary, True)
    sdk_action = {"destination": AGENT, "amount": "12.5", "time": NONCE, "type": action["type"]}
    assert ours == sdk_sign(WALLET, sdk_action, True)
    assert sdk_action == action
    recovered = sdk.recover_user_from_user_signed_action(dict(action), ours, list(types), primary, True)
    assert recovered == WALLET.address == recover_user_signer(action, types, primary, True, ours)


def test_user_digest_rejects_inconsistent_actions() -> None:
    action = w.approve_agent_action(AGENT, "x", NONCE, is_mainnet=True)
    with pytest.raises(ValueError, match="hyperliquidChain must be 'Testnet'"):
        user_digest(action, APPROVE_AGENT_TYPES, APPROVE_AGENT_PRIMARY_TYPE, is_mainnet=False)
    with pytest.raises(ValueError, match="signatureChainId"):
        user_digest(
            {k: v for k, v in action.items() if k != "signatureChainId"},
            APPROVE_AGENT_TYPES,
            APPROVE_AGENT_PRIMARY_TYPE,
            True,
        )
    with pytest.raises(ValueError, match="nonce: missing"):
        user_digest({k: v for k, v in action.items() if k != "nonce"}, APPROVE_AGENT_TYPES, "X", True)
    with pytest.raises(ValueError, match="nonce: must be an integer"):
        user_digest({**action, "nonce": -1}, APPROVE_AGENT_TYPES, APPROVE_AGENT_PRIMARY_TYPE, True)
    with pytest.raises(ValueError, match="unsupported EIP-712 field type"):
        user_digest({**action, "x": 1}, [{"name": "x", "type": "int8[]"}], "X", True)


# ------------------------------------------------------------------------------------------ keys, hashing


@settings(max_examples=25, deadline=None)
@given(st.integers(1, SECP256K1_N - 1))
def test_address_equals_eth_account(key: int) -> None:
    assert Signer(f"{key:064x}").address == Account.from_key(key.to_bytes(32, "big")).address


@given(st.binary(max_size=300))
def test_keccak_backends_equal_eth_utils(data: bytes) -> None:
    expected = eth_keccak(data)
    assert signing.keccak256(data) == expected
    assert signing._keccak_cryptodome(data) == expected
    if signing._pysha3_keccak_256 is not None:
        assert signing._keccak_pysha3(data) == expected


@given(st.binary(min_size=20, max_size=20))
def test_checksum_equals_eth_utils(raw: bytes) -> None:
    assert signing.to_checksum_address(raw) == eth_checksum("0x" + raw.hex())
    assert signing.to_checksum_address("0x" + raw.hex().upper()) == eth_checksum("0x" + raw.hex())


def test_private_key_never_shown() -> None:
    secret_hex = KEY[2:]
    for text in (repr(SIGNER), str(SIGNER), f"{SIGNER}", f"{SIGNER!r}"):
        assert secret_hex not in text and WALLET.address in text
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(SIGNER)
    assert not hasattr(SIGNER, "__dict__")


@pytest.mark.parametrize("bad", ["0x1234", "zz" * 32, "00" * 32, f"{SECP256K1_N:064x}", "ab" * 33])
def test_bad_private_keys_are_refused_without_echoing_them(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        Signer(bad)
    err = info.value
    assert bad not in str(err) and err.__cause__ is None
    assert err.__context__ is None or err.__suppress_context__  # the chained error may quote the key: hidden


@pytest.mark.parametrize(
    "sig",
    [
        {"r": "0x1", "s": "0x1"},
        {"r": "zz", "s": "0x1", "v": 27},
        {"r": "0x1", "s": "0x1", "v": 29},
        {"r": "0x0", "s": "0x1", "v": 27},
        {"r": hex(2**256), "s": "0x1", "v": 27},
        {"r": hex(SECP256K1_N), "s": "0x1", "v": 27},
    ],
)
def test_malformed_signatures_raise_invalid_signature(sig: dict) -> None:
    with pytest.raises(InvalidSignature):
        recover_l1_signer(ACTIONS["cancel"], None, NONCE, None, True, sig)


def test_bad_vault_address_is_refused() -> None:
    with pytest.raises(ValueError, match="20 bytes"):
        action_hash(ACTIONS["cancel"], "0x1234", NONCE, None)
