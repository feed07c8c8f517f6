"""What each toxic type does to the data of one link.

A stage is created per link and per toxic (:func:`make_stage`); settings are read from the
frozen :class:`~chaoskit.netchaos.toxics.Toxic` once, at construction. Stages sleep through
:meth:`Link.sleep_until`, which returns False when the stage left the chain, and then hand
back the data they have not passed on yet.
"""

from __future__ import annotations

import random
from typing import Any

from chaoskit.netchaos.http_toxic import HttpErrorStage
from chaoskit.netchaos.link import Chunk, Link, Out
from chaoskit.netchaos.stage_base import StageBase
from chaoskit.netchaos.toxics import Toxic

__all__ = ["make_stage", "slice_sizes"]


class _Latency(StageBase):
    buffers = True

    def __init__(self, toxic: Toxic, link: Link, rng: random.Random) -> None:
        super().__init__(toxic, link, rng)
        self.latency = float(toxic.attr("latency")) / 1000.0
        self.jitter = float(toxic.attr("jitter")) / 1000.0

    async def pipe(self, chunk: Chunk, out: Out) -> Chunk | None:
        delay = self.latency
        if self.jitter:
            delay += self.rng.uniform(-self.jitter, self.jitter)
        deadline = chunk.ts + max(delay, 0.0)
        if not await self.link.sleep_until(self, deadline):
            return chunk
        await out(Chunk(chunk.data, deadline))
        return None


class _Bandwidth(StageBase):
    def __init__(self, toxic: Toxic, link: Link, rng: random.Random) -> None:
        super().__init__(toxic, link, rng)
        self.bytes_per_second = float(toxic.attr("rate")) * 1000.0
        self.piece = max(int(toxic.attr("rate")) * 100, 1)
        self.free_at = 0.0

    async def pipe(self, chunk: Chunk, out: Out) -> Chunk | None:
        data = memoryview(chunk.data)
        offset = 0
        while offset < len(data):
            piece = bytes(data[offset : offset + self.piece])
            now = self.link.loop.time()
            # Carry a small sleep debt (late wake-ups) but never bank idle time.
            start = self.free_at if now - self.free_at < 0.05 else now
            self.free_at = start + len(piece) / self.bytes_per_second
            if not await self.link.sleep_until(self, self.free_at):
                return Chunk(bytes(data[offset:]), chunk.ts)
            await out(Chunk(piece, chunk.ts))
            offset += len(piece)
        return None


class _SlowClose(StageBase):
    async def on_eof(self) -> None:
        delay = float(self.toxic.attr("delay")) / 1000.0
        await self.link.sleep_until(self, self.link.loop.time() + delay)


class _Timeout(StageBase):
    """Swallow the data; cut the connection after ``timeout`` ms without any."""

    def __init__(self, toxic: Toxic, link: Link, rng: random.Random) -> None:
        super().__init__(toxic, link, rng)
        self.timeout = float(toxic.attr("timeout")) / 1000.0
        self._timer: Any = None

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.timeout > 0:
            self._timer = self.link.loop.call_later(self.timeout, self.link.conn.close)

    def attach(self) -> None:
        self._arm()

    def detach(self, removed: bool) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if removed:
            self.link.conn.close()

    async def pipe(self, chunk: Chunk, out: Out) -> Chunk | None:
        self._arm()
        return None

    async def on_eof(self) -> None:
        self.link.conn.close()


def slice_sizes(total: int, average: int, variation: int, rng: random.Random) -> list[int]:
    """Piece sizes for ``total`` bytes: halve until a piece is within average+variation."""
    sizes: list[int] = []
    pending = [total]
    while pending:
        size = pending.pop()
        if size - average <= variation or size <= 1:
            sizes.append(size)
            continue
        mid = size // 2
        if variation > 0:
            mid += rng.randint(-variation, variation - 1)
        mid = min(max(mid, 1), size - 1)
        pending.append(size - mid)  # popped second: keeps pieces in order
        pending.append(mid)
    return sizes


class _Slicer(StageBase):
    def __init__(self, toxic: Toxic, link: Link, rng: random.Random) -> None:
        super().__init__(toxic, link, rng)
        self.average = int(toxic.attr("average_size"))
        self.variation = int(toxic.attr("size_variation"))
        self.delay = float(toxic.attr("delay")) / 1_000_000.0

    async def pipe(self, chunk: Chunk, out: Out) -> Chunk | None:
        data = chunk.data
        offset = 0
        sizes = slice_sizes(len(data), self.average, self.variation, self.rng)
        for i, size in enumerate(sizes):
            await out(Chunk(data[offset : offset + size], chunk.ts))
            offset += size
            if self.delay and i + 1 < len(sizes):
                wake = self.link.loop.time() + self.delay
                if not await self.link.sleep_until(self, wake):
                    return Chunk(data[offset:], chunk.ts)
        return None


class _LimitData(StageBase):
    def __init__(self, toxic: Toxic, link: Link, rng: random.Random) -> None:
        super().__init__(toxic, link, rng)
        self.limit = int(toxic.attr("bytes"))
        self.key = f"limit_data:{toxic.name}"

    async def pipe(self, chunk: Chunk, out: Out) -> Chunk | None:
        done = int(self.link.state.get(self.key, 0))  # type: ignore[call-overload]
        room = self.limit - done
        if room > 0:
            piece = chunk.data[:room]
            self.link.state[self.key] = done + len(piece)
            await out(Chunk(piece, chunk.ts))
            room -= len(piece)
        if room <= 0:
            self.link.conn.close()
        return None


class _ResetPeer(StageBase):
    async def _reset(self) -> bool:
        wake = self.link.loop.time() + float(self.toxic.attr("timeout")) / 1000.0
        if not await self.link.sleep_until(self, wake):
            return False
        self.link.conn.close(reset=True)
        return True

    async def pipe(self, chunk: Chunk, out: Out) -> Chunk | None:
        if not await self._reset():
            return chunk
        return None

    async def on_eof(self) -> None:
        await self._reset()


class _Drop(StageBase):
    """Cut the connection (close, or reset with ``reset: 1``) ``delay`` ms after it starts."""

    def __init__(self, toxic: Toxic, link: Link, rng: random.Random) -> None:
        super().__init__(toxic, link, rng)
        self._timer: Any = None

    def attach(self) -> None:
        reset = bool(self.toxic.attr("reset"))
        delay = float(self.toxic.attr("delay")) / 1000.0

        def cut() -> None:
            self.link.conn.close(abort=True, reset=reset)

        self._timer = self.link.loop.call_later(delay, cut)

    def detach(self, removed: bool) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


_TYPES: dict[str, type[StageBase]] = {
    "latency": _Latency,
    "bandwidth": _Bandwidth,
    "slow_close": _SlowClose,
    "timeout": _Timeout,
    "slicer": _Slicer,
    "limit_data": _LimitData,
    "reset_peer": _ResetPeer,
    "noop": StageBase,
    "slow_open": StageBase,
    "refuse": StageBase,
    "drop": _Drop,
    "http_error": HttpErrorStage,
}


def make_stage(toxic: Toxic, link: Link, rng: random.Random) -> StageBase:
    """The stage that applies ``toxic`` on ``link``."""
    return _TYPES[toxic.type](toxic, link, rng)
