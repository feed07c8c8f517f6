"""chaoskit.testing: the helpers work as users would use them."""

from __future__ import annotations

import socket

import chaoskit as ck
from chaoskit.events import IterationFinished, RunStarted
from chaoskit.testing import EchoServer, EventCapture, FakeClock


def test_event_capture_collects_a_runs_events() -> None:
    cap = EventCapture()
    ck.Executor(subscribers=[cap]).run(ck.scenario("c").step("s", lambda t: None).repeat(3).build())
    assert len(cap.of(RunStarted)) == 1
    assert [e.iteration for e in cap.of(IterationFinished)] == [0, 1, 2]


def test_echo_server_echoes_over_real_sockets_and_closes() -> None:
    with EchoServer() as srv, socket.create_connection(srv.address, timeout=5) as c:
        c.sendall(b"hello")
        assert c.recv(5) == b"hello"
    try:
        socket.create_connection(srv.address, timeout=1).close()
        refused = False
    except OSError:
        refused = True
    assert refused


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(10.0)
    assert clock() == 10.0
    clock.advance(2.5)
    assert clock() == 12.5
