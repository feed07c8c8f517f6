"""``chaoskit proxy`` / ``python -m chaoskit.netchaos``: a real process, stopped by SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from netchaos_helpers import Upstream, recv_exactly

from chaoskit.netchaos.cli import proxy_command
from chaoskit.netchaos.client import Client


def test_proxy_process_serves_the_config_and_stops_on_sigterm(
    tmp_path: Path, echo_upstream: Upstream
) -> None:
    config = tmp_path / "proxies.json"
    config.write_text(json.dumps([{"name": "echo", "upstream": echo_upstream.address,
                                   "toxics": [{"type": "latency", "attributes": {"latency": 50}}]}]))  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaoskit.netchaos", "--port", "0", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"API on (http://\S+)", line)
        assert match, line + (proc.stderr.read() if proc.stderr else "")
        client = Client(match.group(1))
        proxy = client.get("echo")
        assert [t.type for t in proxy.toxics()] == ["latency"]
        with socket.create_connection(proxy.address, timeout=5) as sock:
            sock.sendall(b"hi")
            assert recv_exactly(sock, 2) == b"hi"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(15)
    assert code == 0
    assert not client.running()
    try:
        socket.create_connection(proxy.address, timeout=1).close()
        raise AssertionError("the proxy listener outlived the server")
    except ConnectionRefusedError:
        pass


def test_bad_config_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"name": "x"}]')
    result = CliRunner().invoke(proxy_command, ["--port", "0", "--config", str(bad)])
    assert result.exit_code == 2
    assert "missing required field: upstream at proxy 1" in result.output
    assert str(bad) in result.output
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    result = CliRunner().invoke(proxy_command, ["--port", "0", "--config", str(broken)])
    assert result.exit_code == 2 and "not valid JSON" in result.output


def test_busy_port_is_reported() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(proxy_command, ["--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output


def test_out_of_range_port_is_a_usage_error() -> None:
    """An impossible --port is rejected by the option parser, not with a traceback."""
    result = CliRunner().invoke(proxy_command, ["--port", "99999"])
    assert result.exit_code == 2
    assert "99999" in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, OverflowError)
