"""Record from a WebSocket server speaking Hyperliquid's subscription protocol, read the files back (also after a
crash), and replay the recording: the same events give the same decisions, run after run."""

from __future__ import annotations

import asyncio
import gzip
import json
from decimal import Decimal

import pytest
from websockets.asyncio.server import serve

from mmtool.backtest.exchange import Latency, sim_config
from mmtool.backtest.loop import BacktestOptions, run_backtest
from mmtool.backtest.reader import iter_recording
from mmtool.backtest.recorder import Recorder, subscriptions, ws_url
from mmtool.backtest.recording import HOUR_NS, RecordingWriter, iter_lines, recording_files
from mmtool.backtest.replay import replay_exchange
from mmtool.core.components import ComponentContext
from mmtool.core.config_loader import load_settings
from mmtool.core.plugins import load_registry
from mmtool.core.session import build_engine
from mmtool.core.types import BookUpdate, Funding, MidUpdate, Place, Trade

from .market import NS, T0, FakeHyperliquid, SteppingClock, synthetic_messages

STEP_NS = 100_000_000  # each received message is stamped 0.1 s after the previous one


async def _record(messages: list[dict], out) -> tuple[FakeHyperliquid, Recorder]:
    server = FakeHyperliquid(messages)
    async with serve(server.handler, "127.0.0.1", 0) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        recorder = Recorder(ws_url("localhost", f"http://127.0.0.1:{port}"), "ETH", out,
                            clock=SteppingClock(T0, STEP_NS), ping_interval_s=0.05)
        task = asyncio.create_task(recorder.run())
        for _ in range(3000):
            if recorder.writer.lines >= len(messages):
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return server, recorder


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """Two minutes of the synthetic market, served as WebSocket messages and recorded."""
    out = tmp_path_factory.mktemp("recording")
    messages = synthetic_messages(120.0)
    server, recorder = asyncio.run(_record(messages, out))
    return out, messages, server, recorder


def test_recorder_subscribes_to_the_four_channels_and_writes_every_message(recording):
    out, messages, server, recorder = recording
    assert server.subscriptions == subscriptions("ETH")
    assert recorder.stats.messages["l2Book"] == sum(m["channel"] == "l2Book" for m in messages)
    assert sum(recorder.stats.messages.values()) == len(messages)
    lines = list(iter_lines(out))
    assert [line.msg for line in lines] == messages
    times = [line.recv_ns for line in lines]
    assert all(b - a == STEP_NS for a, b in zip(times, times[1:], strict=False)), "one clock reading per message"
    book_line = next(line for line in lines if line.msg["channel"] == "l2Book")
    assert book_line.exch_ms == book_line.msg["data"]["time"]
    assert recorder.stats.files == recording_files(out)
    assert len(gzip.open(recorder.stats.files[0]).read().splitlines()) == len(messages), "closed files are gzip"


def test_reader_yields_core_events_in_receive_order(recording):
    out, messages, _, _ = recording
    events = list(iter_recording(out))
    assert [e.ts_local_ns for e in events] == sorted(e.ts_local_ns for e in events)
    books = [e for e in events if isinstance(e, BookUpdate)]
    assert len(books) == sum(m["channel"] == "l2Book" for m in messages)
    trades = [e for e in events if isinstance(e, Trade)]
    assert len(trades) == sum(len(m["data"]) for m in messages if m["channel"] == "trades")
    assert all(isinstance(e, MidUpdate) for e in events if not isinstance(e, BookUpdate | Trade))
    first = next(m for m in messages if m["channel"] == "l2Book")["data"]
    assert books[0].book.bids[0].price == Decimal(first["levels"][0][0]["px"])
    assert books[0].ts_exchange_ns == first["time"] * 1_000_000


def test_the_replay_reproduces_the_decisions_run_after_run(recording):
    out, _, _, _ = recording
    settings = load_settings(None, env={}, overrides={"logging.level": "WARNING"})
    registry = load_registry()

    def run() -> tuple[list, dict, int]:
        log: list = []
        exchange = replay_exchange(out, sim_config(settings, latency=Latency(20.0)), "ETH")
        result = run_backtest(settings, registry, exchange, BacktestOptions(), network="replay",
                              on_event=lambda event, actions: log.append((event, tuple(actions))))
        return log, result.summary, result.trading_events

    first, summary, trading = run()
    second, again, _ = run()
    assert first == second and summary == again
    placed = [a for _, actions in first for a in actions if isinstance(a, Place)]
    assert placed, "the engine warmed up on the recording and quoted"
    assert summary["stop_reason"] == "data ended" and summary["open_orders_at_exit"] == 0
    assert summary["fills"] > 0, "recorded trades filled some of our quotes"
    # Same events, same actions: a fresh engine fed the logged events decides exactly the same.
    exchange = replay_exchange(out, sim_config(settings), "ETH")
    engine = build_engine(settings, registry, ComponentContext("ETH", exchange.rules, settings), capital_usd=100_000.0)
    before, after = first[:trading], first[trading:]
    assert [tuple(engine.handle(event)) for event, _ in before] == [actions for _, actions in before]
    engine.stop(before[-1][0].ts_local_ns)  # the shutdown began there
    assert [tuple(engine.handle(event)) for event, _ in after] == [actions for _, actions in after]


def test_a_killed_recorder_loses_at_most_the_partial_last_line(tmp_path):
    writer = RecordingWriter(tmp_path, "ETH")
    for i in range(50):
        writer.write(T0 + i * NS, None, {"channel": "allMids", "data": {"mids": {"ETH": f"{3500 + i}.5"}}})
    path = writer.files[0]
    data = path.read_bytes()  # never closed: no gzip trailer, as after a kill
    for cut, expected in ((len(data), 50), (len(data) - 2, 50), (len(data) - 30, 49)):
        path.write_bytes(data[:cut])
        assert len(list(iter_lines(tmp_path))) >= expected - 1
    path.write_bytes(data)
    mids = [e.mid for e in iter_recording(tmp_path)]
    assert mids == [Decimal(f"{3500 + i}.5") for i in range(50)]


def test_files_rotate_hourly_and_funding_is_paid_on_the_hour(tmp_path):
    writer = RecordingWriter(tmp_path, "ETH")
    ctx = {"channel": "activeAssetCtx", "data": {"coin": "ETH", "ctx": {"funding": "0.00002"}}}
    writer.write(T0 + 10 * NS, None, ctx)
    writer.write(T0 + 20 * NS, None, {"channel": "allMids", "data": {"mids": {"ETH": "3500"}}})
    writer.write(T0 + HOUR_NS + 5 * NS, None, {"channel": "allMids", "data": {"mids": {"ETH": "3501"}}})
    writer.close()
    assert [p.name for p in recording_files(tmp_path)] == ["ETH-20260101T00.jsonl.gz", "ETH-20260101T01.jsonl.gz"]
    events = list(iter_recording(tmp_path))
    assert [type(e).__name__ for e in events] == ["MidUpdate", "Funding", "MidUpdate"]
    funding = events[1]
    assert isinstance(funding, Funding)
    assert (funding.rate, funding.payment, funding.ts_exchange_ns) == (Decimal("0.00002"), 0, T0 + HOUR_NS)


def test_malformed_lines_and_messages_are_skipped(tmp_path):
    path = tmp_path / "ETH-20260101T00.jsonl.gz"
    good = {"recv_ns": T0, "exch_ms": None, "msg": {"channel": "allMids", "data": {"mids": {"ETH": "3500"}}}}
    bad_msg = {"recv_ns": T0 + 1, "exch_ms": None, "msg": {"channel": "l2Book", "data": {"coin": "ETH"}}}
    path.write_bytes(gzip.compress(b"not json\n" + json.dumps(bad_msg).encode() + b"\n" + json.dumps(good).encode()
                                   + b"\n"))
    assert [type(e).__name__ for e in iter_recording(tmp_path)] == ["MidUpdate"]


def test_recording_from_the_local_hyperliquid_exchange_replays(tmp_path):
    from mmtool.plugins.exchanges.hlserver.app import LocalExchange
    from mmtool.plugins.exchanges.hlserver.config import ServerConfig

    async def record() -> Recorder:
        async with LocalExchange(ServerConfig(port=0)) as exchange:
            recorder = Recorder(ws_url("localhost", exchange.url), "ETH", tmp_path)
            await recorder.run(2.0)
        return recorder

    recorder = asyncio.run(record())
    assert recorder.stats.malformed == 0
    assert {"l2Book", "allMids", "activeAssetCtx"} <= set(recorder.stats.messages)
    events = list(iter_recording(tmp_path))
    assert any(isinstance(e, BookUpdate) for e in events) and any(isinstance(e, MidUpdate) for e in events)
    settings = load_settings(None, env={}, overrides={"logging.level": "WARNING"})
    exchange = replay_exchange(tmp_path, sim_config(settings), "ETH")
    result = run_backtest(settings, load_registry(), exchange, network="replay")
    assert result.summary["stop_reason"] == "data ended"
    assert result.summary["bad_events"] == 0
