"""Authentication as the exchange does it: signer recovery, agents, vaults, nonces and the network."""

from __future__ import annotations

import copy
import time
from decimal import Decimal

import eth_account

from mmtool.plugins.exchanges.hyperliquid.wire import order_action, order_wire

from .helpers import ServerThread, Trader, statuses


def _buy(price: str = "3000") -> dict:
    return order_action([order_wire(0, True, Decimal(price), Decimal("0.01"), False, "Alo")])


def _open_count(server: ServerThread, address: str) -> int:
    return len(server.info({"type": "openOrders", "user": address}))


def test_valid_signature_is_accepted_and_journalled(server: ServerThread, trader: Trader) -> None:
    answer = trader.send(_buy())
    assert "resting" in statuses(answer)[0]
    actions = server.call(lambda: server.ex.journal.of_kind("action"))
    assert actions[-1]["user"] == trader.address.lower() and actions[-1]["signer"] == trader.address.lower()


def test_tampered_action_recovers_a_stranger_and_is_refused(server: ServerThread, trader: Trader) -> None:
    body = trader.body(_buy())
    body["action"]["orders"][0]["s"] = "1"
    r = server.post("/exchange", body)
    answer = r.json()
    assert answer["status"] == "err"
    assert answer["response"].startswith("User or API Wallet 0x") and answer["response"].endswith("does not exist.")
    assert trader.address.lower() not in answer["response"]
    assert _open_count(server, trader.address) == 0


def test_malformed_signature_is_refused(server: ServerThread, trader: Trader) -> None:
    body = trader.body(_buy())
    body["signature"] = {"r": "0x0", "s": "0x1", "v": 30}
    answer = server.post("/exchange", body).json()
    assert answer["status"] == "err" and answer["response"].startswith("Invalid signature")


def test_wrong_key_cannot_trade_another_account(server: ServerThread, trader: Trader) -> None:
    stranger = Trader(server).open()
    answer = stranger.send(_buy(), vault=trader.address)
    assert answer == {"status": "err", "response": f"User or API Wallet {stranger.address.lower()} does not exist."}
    assert _open_count(server, trader.address) == 0
    # Without a vault the stranger trades its own account only.
    assert "resting" in statuses(stranger.send(_buy()))[0]
    assert _open_count(server, trader.address) == 0 and _open_count(server, stranger.address) == 1


def test_unseen_address_does_not_exist(server: ServerThread) -> None:
    newcomer = Trader(server)
    answer = newcomer.send(_buy())
    assert answer["response"] == f"User or API Wallet {newcomer.address.lower()} does not exist."


def test_agent_must_be_approved_by_the_account(server: ServerThread, trader: Trader) -> None:
    agent_key = eth_account.Account.create().key.hex()
    agent = Trader(server, agent_key)
    refused = agent.send(_buy())
    assert refused["status"] == "err" and "does not exist" in refused["response"]
    assert trader.approve(agent.address, "bot") == {"status": "ok", "response": {"type": "default"}}
    assert "resting" in statuses(agent.send(_buy()))[0]
    assert _open_count(server, trader.address) == 1
    # An agent may also act through vaultAddress = its account; not for any other account.
    assert "resting" in statuses(agent.send(_buy("3001"), vault=trader.address))[0]
    other = Trader(server).open()
    assert agent.send(_buy(), vault=other.address)["status"] == "err"
    # Approving another agent under the same name replaces the first one.
    successor = Trader(server)
    assert trader.approve(successor.address, "bot")["status"] == "ok"
    assert agent.send(_buy("3002"))["status"] == "err"
    assert "resting" in statuses(successor.send(_buy("3002")))[0]


def test_approve_agent_needs_a_known_account_and_the_right_chain(server: ServerThread) -> None:
    newcomer = Trader(server)
    assert "does not exist" in newcomer.approve(Trader(server).address)["response"]
    mainnet = Trader(server, is_mainnet=True).open()
    answer = mainnet.approve(Trader(server).address)
    assert answer["status"] == "err" and "hyperliquidChain" in answer["response"]


def test_replayed_nonce_is_refused(server: ServerThread, trader: Trader) -> None:
    body = trader.body(_buy())
    assert server.post("/exchange", body).json()["status"] == "ok"
    replay = server.post("/exchange", copy.deepcopy(body)).json()
    assert replay == {"status": "err", "response": f"Invalid nonce: duplicate nonce {body['nonce']}"}
    assert _open_count(server, trader.address) == 1


def test_stale_and_future_nonces_are_refused(server: ServerThread, trader: Trader) -> None:
    now = int(time.time() * 1000)
    stale = trader.send(_buy(), nonce=now - 3 * 86_400_000)
    future = trader.send(_buy(), nonce=now + 2 * 86_400_000)
    assert stale["status"] == future["status"] == "err"
    assert stale["response"].startswith("Invalid nonce") and future["response"].startswith("Invalid nonce")


def test_only_the_hundred_highest_nonces_are_kept(server: ServerThread, trader: Trader) -> None:
    base = int(time.time() * 1000) - 10_000
    for i in range(100):
        assert trader.send({"type": "scheduleCancel"}, nonce=base + 2 * i)["status"] == "ok"
    # Unused but below the smallest kept nonce: refused; above it and unused: accepted.
    assert trader.send({"type": "scheduleCancel"}, nonce=base - 1)["response"].startswith("Invalid nonce")
    assert trader.send({"type": "scheduleCancel"}, nonce=base + 1)["status"] == "ok"
    assert trader.send({"type": "scheduleCancel"}, nonce=base)["response"].startswith("Invalid nonce")


def test_signature_for_the_other_network_is_refused(make_server) -> None:
    testnet = make_server()
    signer = Trader(testnet, is_mainnet=True).open()
    assert "does not exist" in signer.send(_buy())["response"]
    mainnet = make_server(chain="mainnet")
    on_mainnet = Trader(mainnet, signer.key, is_mainnet=True).open()
    assert "resting" in statuses(on_mainnet.send(_buy()))[0]


def test_expired_action_is_refused(server: ServerThread, trader: Trader) -> None:
    nonce = Trader.nonce()
    action = _buy()
    signature = trader.signer.sign_l1_action(action, None, nonce, nonce - 1000, False)
    body = {"action": action, "nonce": nonce, "signature": signature, "vaultAddress": None,
            "expiresAfter": nonce - 1000}
    answer = server.post("/exchange", body).json()
    assert answer["status"] == "err" and "expired" in answer["response"]
