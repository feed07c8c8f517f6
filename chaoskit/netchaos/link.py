"""One direction of a proxied connection: reader -> toxic stages -> writer.

A :class:`Link` is fed by the protocol reading its source socket. With no toxic active
and nothing queued, bytes go straight to the destination transport (the fast path, one
``write`` per read). Otherwise each read becomes a timestamped :class:`Chunk` in a queue
that one pump task drains through the link's stages in order.

Stages may sleep; a change to the link's toxic chain wakes every sleeper. A stage that
finds itself removed or replaced hands back what it had not yet passed on, and the pump
runs that remainder through the *new* chain, skipping the stages the data already went
through, so toxic changes on live connections lose and reorder nothing.

Backpressure: the source stops reading while the destination's write buffer is full or
while the queue holds more than a few chunks (1024 when a latency toxic is active, which
must buffer eagerly so that delay does not throttle throughput).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from chaoskit.netchaos.connection import Connection, Side
    from chaoskit.netchaos.toxics import Toxic

__all__ = ["Chunk", "Link", "Stage"]

_QUEUE_LIMIT = 8
_LATENCY_QUEUE_LIMIT = 1024


class Chunk:
    """Bytes read at loop time ``ts`` (latency toxics advance ``ts`` as they delay)."""

    __slots__ = ("data", "ts")

    def __init__(self, data: bytes, ts: float) -> None:
        self.data = data
        self.ts = ts


Out = Callable[[Chunk], Awaitable[None]]


class Stage(Protocol):
    """What one toxic does on one link (see :mod:`chaoskit.netchaos.stages`)."""

    name: str
    toxic: Toxic
    active: bool
    buffers: bool

    async def pipe(self, chunk: Chunk, out: Out) -> Chunk | None:
        """Pass ``chunk`` on through ``out``; return any part not handled if interrupted."""

    async def on_eof(self) -> None:
        """The source reached EOF and everything before it passed this stage."""

    def attach(self) -> None:
        """The stage became active on its link."""

    def detach(self, removed: bool) -> None:
        """The stage stopped being active (``removed``: its toxic was deleted)."""


class Link:
    """One direction (``upstream`` or ``downstream``) of a :class:`Connection`."""

    def __init__(self, conn: Connection, direction: str, src: Side, dst: Side) -> None:
        self.conn = conn
        self.direction = direction
        self.src = src
        self.dst = dst
        self.loop = asyncio.get_running_loop()
        self.stages: list[Stage] = []
        self.state: dict[str, object] = {}  # per-link values that survive toxic restarts
        self._active = False
        self._limit = _QUEUE_LIMIT
        self._queue: collections.deque[Chunk | None] = collections.deque()
        self._pump: asyncio.Task[None] | None = None
        self._sleepers: list[asyncio.Future[bool]] = []
        self._writable = True
        self._write_waiter: asyncio.Future[None] | None = None
        self.eof_done = False
        self.closed = False
        counters = conn.proxy.counters[direction]
        self._counters = counters

    # --- chain changes -----------------------------------------------------------------

    def set_stages(self, stages: list[Stage]) -> None:
        """Install a new chain (already drawn for toxicity) and wake sleeping stages."""
        self.stages = stages
        self._active = any(s.active for s in stages)
        self._limit = (
            _LATENCY_QUEUE_LIMIT if any(s.active and s.buffers for s in stages) else _QUEUE_LIMIT
        )
        sleepers, self._sleepers = self._sleepers, []
        for fut in sleepers:
            if not fut.done():
                fut.set_result(False)
        if len(self._queue) <= self._limit:
            self.src.resume("queue")

    async def sleep_until(self, stage: Stage, deadline: float) -> bool:
        """Sleep until loop time ``deadline``; False if ``stage`` left the chain meanwhile."""
        while True:
            if self.closed or not stage.active:
                return False
            if self.loop.time() >= deadline:
                return True
            fut: asyncio.Future[bool] = self.loop.create_future()
            handle = self.loop.call_at(deadline, _wake, fut)
            self._sleepers.append(fut)
            try:
                await fut
            finally:
                handle.cancel()
                if fut in self._sleepers:
                    self._sleepers.remove(fut)

    # --- input from the source protocol ------------------------------------------------

    def feed(self, data: memoryview) -> bool:
        """Take bytes read from the source; True if ``data`` may still be referenced."""
        self._counters[0] += len(data)
        if not self._active and self._pump is None and not self._queue:
            transport = self.dst.transport
            if self.closed or transport is None or transport.is_closing():
                return False
            transport.write(data)
            self._counters[1] += len(data)
            return transport.get_write_buffer_size() > 0
        self._enqueue(bytes(data))
        return False

    def _enqueue(self, data: bytes) -> None:
        self._queue.append(Chunk(data, self.loop.time()))
        if len(self._queue) > self._limit:
            self.src.pause("queue")
        if self._pump is None:
            self._pump = self.loop.create_task(self._run_pump())

    def feed_eof(self) -> None:
        if not self._active and self._pump is None and not self._queue:
            self._finish_eof()
            return
        self._queue.append(None)
        if self._pump is None:
            self._pump = self.loop.create_task(self._run_pump())

    def push_front(self, data: bytes) -> None:
        """Put bytes a removed stage still held back at the head of the queue."""
        if self.closed:
            return
        self._queue.appendleft(Chunk(data, self.loop.time()))
        if self._pump is None:
            self._pump = self.loop.create_task(self._run_pump())

    # --- output to the destination -----------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.closed or not data:
            return
        transport = self.dst.transport
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        self._counters[1] += len(data)

    def dst_paused(self) -> None:
        self._writable = False
        self.src.pause("dst")

    def dst_resumed(self) -> None:
        self._writable = True
        self.src.resume("dst")
        waiter, self._write_waiter = self._write_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def deliver(self, chunk: Chunk) -> None:
        self.write(chunk.data)
        while not self._writable and not self.closed:
            self._write_waiter = self.loop.create_future()
            await self._write_waiter

    # --- the pump ----------------------------------------------------------------------

    async def _run_pump(self) -> None:
        try:
            while self._queue and not self.closed:
                item = self._queue.popleft()
                if len(self._queue) <= self._limit // 2:
                    self.src.resume("queue")
                if item is None:
                    for stage in list(self.stages):
                        if stage.active and not self.closed:
                            await stage.on_eof()
                    self._finish_eof()
                    continue
                await self._run(item, frozenset())
        except Exception:  # chaoskit's own fault: never take the loop down
            self.conn.proxy.log.exception("netchaos.link_failed", direction=self.direction)
            self.conn.close(abort=True)
        finally:
            self._pump = None

    async def _run(self, chunk: Chunk, applied: frozenset[str]) -> None:
        while not self.closed:
            stage = None
            for candidate in self.stages:
                if candidate.active and candidate.name not in applied:
                    stage = candidate
                    break
            if stage is None:
                await self.deliver(chunk)
                return
            passed = applied | {stage.name}

            async def out(piece: Chunk, passed: frozenset[str] = passed) -> None:
                await self._run(piece, passed)

            leftover = await stage.pipe(chunk, out)
            if leftover is None or not leftover.data:
                return
            chunk = leftover

    def _finish_eof(self) -> None:
        if self.eof_done:
            return
        self.eof_done = True
        self.conn.half_closed(self)

    def close(self) -> None:
        """Stop the link: wake sleepers and writers, drop anything queued."""
        if self.closed:
            return
        self.closed = True
        self._queue.clear()
        for fut in self._sleepers:
            if not fut.done():
                fut.set_result(False)
        self._sleepers.clear()
        waiter, self._write_waiter = self._write_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        for stage in self.stages:
            if stage.active:
                stage.detach(removed=False)
                stage.active = False


def _wake(fut: asyncio.Future[bool]) -> None:
    if not fut.done():
        fut.set_result(True)
