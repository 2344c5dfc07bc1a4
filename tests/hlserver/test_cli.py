"""``mmtool exchange serve``: registered through the plugin hook, flags validated, starts fast."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from click.testing import CliRunner

from mmtool.cli import main
from mmtool.plugins.exchanges.hlserver import plugin
from mmtool.plugins.exchanges.hlserver.config import parse_assets

STARTUP_LIMIT_S = 2.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_plugin_registers_the_exchange_group() -> None:
    commands = plugin.mmtool_register_commands()
    assert [c.name for c in commands] == ["exchange"] and "serve" in commands[0].commands


def test_bad_flags_are_refused() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["exchange", "serve", "--assets", "NOPE"])
    assert result.exit_code != 0 and "unknown asset 'NOPE'" in result.output
    result = runner.invoke(main, ["exchange", "serve", "--stall-book", "3"])
    assert result.exit_code != 0 and "AT:DURATION" in result.output


def test_parse_assets() -> None:
    specs = parse_assets("eth, SOL, XYZ:2.5:1:3")
    assert [(s.name, s.sz_decimals, s.max_leverage) for s in specs] == [("ETH", 4, 25), ("SOL", 2, 20), ("XYZ", 1, 3)]


def test_serve_starts_in_under_two_seconds(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "journal.jsonl"
    scenario = tmp_path / "faults.toml"
    scenario.write_text("seed = 5\nhttp_5xx_prob = 0.0\n")
    # The installed console script, as a user runs it.
    cmd = [str(Path(sys.executable).parent / "mmtool"), "exchange", "serve", "--port", str(port), "--seed", "4",
           "--assets", "ETH,BTC,SOL", "--log-json", str(log), "--faults", str(scenario)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        meta = None
        while time.monotonic() - start < 10:
            try:
                meta = requests.post(f"http://127.0.0.1:{port}/info", json={"type": "meta"}, timeout=1).json()
                break
            except requests.ConnectionError:
                time.sleep(0.02)
        elapsed = time.monotonic() - start
        print(f"mmtool exchange serve answered /info after {elapsed:.2f} s")
        assert meta is not None and [a["name"] for a in meta["universe"]] == ["ETH", "BTC", "SOL"]
        assert elapsed < STARTUP_LIMIT_S
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert f"listening on http://127.0.0.1:{port}" in err.decode()
    assert '"kind":"started"' in log.read_text()
