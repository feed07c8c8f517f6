"""The ``http_error`` toxic: answer an HTTP status instead of forwarding a request.

The stage follows HTTP/1.1 request framing on the upstream stream (headers, then a
``Content-Length`` or chunked body) so that it knows where each request starts. A selected
request is consumed to its end, never forwarded, and answered with ``status`` and
``Connection: close``; other requests pass through byte for byte, as they arrive.
"""

from __future__ import annotations

import random
import re

from chaoskit.netchaos.link import Chunk, Link, Out
from chaoskit.netchaos.stage_base import StageBase
from chaoskit.netchaos.toxics import Toxic

__all__ = ["HttpErrorStage", "RequestFramer"]

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_CONTENT_LENGTH = re.compile(rb"^content-length:\s*(\d+)\s*$", re.I | re.M)
_CHUNKED = re.compile(rb"^transfer-encoding:.*chunked", re.I | re.M)
_MAX_LINE = 64 * 1024
_REQUEST_LINE = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+ \S+ HTTP/\d", re.S)


def _not_a_request(head: bytes) -> bool:
    """True once ``head`` (an unfinished request head) cannot be HTTP/1.x."""
    head = head.lstrip(b"\r\n")
    line_end = head.find(b"\n")
    if line_end < 0:
        return len(head) > _MAX_LINE
    return len(head) > _MAX_LINE or not _REQUEST_LINE.match(head[:line_end])


class RequestFramer:
    """Tracks where request bodies end in a stream of request bytes.

    ``body(data)`` consumes the body part at the head of ``data`` and returns how many
    bytes it used and whether the body is complete. Malformed framing makes the framer
    ``opaque``: it then treats everything as body and never completes.
    """

    def __init__(self) -> None:
        self.mode = "head"  # head | length | size | data | trailer
        self.left = 0
        self.line = b""
        self.opaque = False

    def start(self, head: bytes) -> bool:
        """A request head was read; True if the request has no body."""
        if _CHUNKED.search(head):
            self.mode, self.line = "size", b""
            return False
        match = _CONTENT_LENGTH.search(head)
        self.left = int(match.group(1)) if match else 0
        if self.left:
            self.mode = "length"
            return False
        self.mode = "head"
        return True

    def _line(self, data: bytes, used: int) -> tuple[int, bytes | None]:
        end = data.find(b"\n", used)
        if end < 0:
            self.line += data[used:]
            if len(self.line) > _MAX_LINE:
                self.opaque = True
            return len(data), None
        line, self.line = self.line + data[used : end + 1], b""
        return end + 1, line

    def body(self, data: bytes) -> tuple[int, bool]:
        used = 0
        while used < len(data):
            if self.opaque:
                return len(data), False
            if self.mode in ("length", "data"):
                n = min(self.left, len(data) - used)
                self.left -= n
                used += n
                if self.left == 0:
                    if self.mode == "length":
                        self.mode = "head"
                        return used, True
                    self.mode = "size"
            elif self.mode == "size":
                used, line = self._line(data, used)
                if line is None:
                    continue
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    self.opaque = True
                    continue
                if size == 0:
                    self.mode = "trailer"
                else:
                    self.mode, self.left = "data", size + 2  # the chunk and its CRLF
            elif self.mode == "trailer":
                used, line = self._line(data, used)
                if line is not None and not line.strip():
                    self.mode = "head"
                    return used, True
            else:
                return used, True
        return used, False


class HttpErrorStage(StageBase):
    """Answer ``status`` instead of forwarding selected HTTP/1.1 requests."""

    def __init__(self, toxic: Toxic, link: Link, rng: random.Random) -> None:
        super().__init__(toxic, link, rng)
        self.status = int(toxic.attr("status"))
        self.first = int(toxic.attr("first"))
        self.probability = float(toxic.attr("probability"))
        self.framer = RequestFramer()
        self.head = b""
        self.discard = False
        self.answered = False

    def _select(self) -> bool:
        counts = self.link.conn.proxy.toxic_counters
        seen = counts.get(self.name, 0)
        counts[self.name] = seen + 1
        if self.first > 0:
            return seen < self.first
        if self.probability > 0:
            return self.rng.random() < self.probability
        return True

    def _answer(self) -> None:
        reason = _REASONS.get(self.status, "Error")
        body = f"{self.status} {reason} (injected by chaoskit)\n".encode()
        response = (
            f"HTTP/1.1 {self.status} {reason}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        self.answered = True
        self.link.conn.answer_and_close(response)

    async def pipe(self, chunk: Chunk, out: Out) -> Chunk | None:
        data = chunk.data
        while data and not self.answered:
            if self.framer.mode != "head":
                used, done = self.framer.body(data)
                piece, data = data[:used], data[used:]
                if not self.discard and piece:
                    await out(Chunk(piece, chunk.ts))
                if self.discard and (done or self.framer.opaque):
                    self._answer()
                continue
            self.head += data
            data = b""
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if _not_a_request(self.head):
                    # Not HTTP/1.x (or an endless head): stop inspecting, forward as is.
                    held, self.head = self.head, b""
                    self.framer.opaque, self.framer.mode = True, "opaque"
                    await out(Chunk(held, chunk.ts))
                return None
            head, data = self.head[: end + 4], self.head[end + 4 :]
            self.head = b""
            bodiless = self.framer.start(head)
            self.discard = self._select()
            if not self.discard:
                await out(Chunk(head, chunk.ts))
            elif bodiless:
                self._answer()
        return None

    def detach(self, removed: bool) -> None:
        if self.head and not self.answered:
            self.link.push_front(self.head)
        self.head = b""
