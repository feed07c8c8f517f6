"""The base of every stage: a pass-through that does nothing at attach, detach or EOF."""

from __future__ import annotations

import random

from chaoskit.netchaos.link import Chunk, Link, Out
from chaoskit.netchaos.toxics import Toxic

__all__ = ["StageBase"]


class StageBase:
    buffers = False

    def __init__(self, toxic: Toxic, link: Link, rng: random.Random) -> None:
        self.toxic = toxic
        self.name = toxic.name
        self.link = link
        self.rng = rng
        self.active = False

    async def pipe(self, chunk: Chunk, out: Out) -> Chunk | None:
        await out(chunk)
        return None

    async def on_eof(self) -> None:
        return None

    def attach(self) -> None:
        return None

    def detach(self, removed: bool) -> None:
        return None
