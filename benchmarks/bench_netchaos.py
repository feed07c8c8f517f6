"""Benchmarks for the embedded chaos proxy, measured side by side with direct loopback.

Run: .venv/bin/python benchmarks/bench_netchaos.py [--repeats N] [--quick]

The proxy runs in its own process (``python -m chaoskit.netchaos``), as ``chaoskit proxy``
would; the load generators and upstreams run in this process. Every figure is the median of
N repeats, and each repeat measures direct and proxied back to back, so machine noise
affects both sides alike.

1. bulk throughput with no toxics, proxied / direct (goal >= 75%); when Debian's ``socat``
   is installed, also through ``socat -b 1048576`` (a proxy written in C, copying through a
   1 MiB buffer), the ceiling a user-space proxy reaches on the same machine;
2. added latency for small request/response (p50 and p99 per round trip, and per hop:
   a round trip crosses the proxy twice);
3. latency toxic accuracy: a 20 ms toxic against its target;
4. 1,000 concurrent connections held open through one proxy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import psutil

from chaoskit.netchaos.client import Client

MiB = 1024 * 1024


# --- upstreams -------------------------------------------------------------------------


class ThreadServer:
    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(2048)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.handler = handler
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            self.handler(conn)


def sink(conn: socket.socket) -> None:
    buf = bytearray(1 << 20)
    total = 0
    while True:
        n = conn.recv_into(buf)
        if not n:
            break
        total += n
    conn.sendall(str(total).encode())


def echo(conn: socket.socket) -> None:
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


# --- the proxy process -----------------------------------------------------------------


def start_proxy() -> tuple[subprocess.Popen[str], Client]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaoskit.netchaos", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"API on (http://\S+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"the proxy did not start: {line!r}")
    return proc, Client(match.group(1))


def start_socat(upstream: str) -> tuple[subprocess.Popen[bytes], int] | None:
    """A C reference proxy in front of ``upstream``, or None without socat."""
    exe = shutil.which("socat")
    if exe is None:
        return None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    listen = f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"
    proc = subprocess.Popen([exe, "-b", "1048576", listen, f"TCP:{upstream}"])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
            return proc, port
        time.sleep(0.02)
    proc.kill()
    return None


# --- measurements ----------------------------------------------------------------------


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def bulk(port: int, size: int) -> float:
    """MB/s for sending ``size`` bytes and getting the byte count back."""
    chunk = b"\xab" * MiB
    with connect(port) as sock:
        start = time.perf_counter()
        sent = 0
        while sent < size:
            sock.sendall(chunk)
            sent += len(chunk)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while True:
            data = sock.recv(64)
            if not data:
                break
            answer += data
        elapsed = time.perf_counter() - start
    assert int(answer) == sent, (answer, sent)
    return sent / elapsed / 1e6


def pingpong(port: int, count: int, size: int = 64) -> list[float]:
    """Round-trip times in seconds of ``count`` small request/responses."""
    payload = b"p" * size
    times: list[float] = []
    with connect(port) as sock:
        for _ in range(50):  # warm up
            sock.sendall(payload)
            sock.recv(size)
        for _ in range(count):
            start = time.perf_counter()
            sock.sendall(payload)
            got = 0
            while got < size:
                got += len(sock.recv(size - got))
            times.append(time.perf_counter() - start)
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def hold_connections(
    port: int, count: int, ps: psutil.Process
) -> tuple[float, float, int, int]:
    """Open ``count`` connections, ping each, hold, ping again: (open s, ping s, ok, rss)."""
    start = time.perf_counter()
    conns = await asyncio.gather(
        *(asyncio.open_connection("127.0.0.1", port) for _ in range(count))
    )
    opened = time.perf_counter() - start

    async def ping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"ping")
        return await reader.readexactly(4) == b"ping"

    results = await asyncio.gather(*(ping(r, w) for r, w in conns))
    await asyncio.sleep(1.0)  # held
    rss = ps.memory_info().rss
    start = time.perf_counter()
    results2 = await asyncio.gather(*(ping(r, w) for r, w in conns))
    pinged = time.perf_counter() - start
    for _, writer in conns:
        writer.close()
    await asyncio.gather(*(w.wait_closed() for _, w in conns), return_exceptions=True)
    await asyncio.sleep(0.5)  # let the echo handlers see EOF
    return opened, pinged, sum(a and b for a, b in zip(results, results2, strict=True)), rss


async def async_echo_server() -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=2048)
    return server, server.sockets[0].getsockname()[1]


async def bench_hold(
    client: Client, count: int, ps: psutil.Process
) -> tuple[float, float, int, int]:
    server, port = await async_echo_server()
    proxy = await asyncio.to_thread(client.create, "hold", f"127.0.0.1:{port}")
    async with server:
        return await hold_connections(proxy.port, count, ps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, 3 repeats")
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    bulk_size = (16 if args.quick else 64) * MiB
    pings = 1000 if args.quick else 3000
    bulk_repeats = 3 * repeats  # short transfers: more pairs to beat the noise

    proc, client = start_proxy()
    proxy_ps = psutil.Process(proc.pid)
    try:
        sink_up = ThreadServer(sink)
        echo_up = ThreadServer(echo)
        p_sink = client.create("bulk", sink_up.address)
        p_echo = client.create("echo", echo_up.address)
        p_lat = client.create("lat", echo_up.address)
        p_lat.add_toxic("latency", stream="downstream", latency=20)

        print(f"chaoskit netchaos benchmarks: median of {repeats} repeats, python "
              f"{sys.version.split()[0]}, {psutil.cpu_count()} cpus")  # fmt: skip

        # 1. throughput
        socat = start_socat(sink_up.address)
        direct_t, proxied_t, ratios, socat_t, vs_socat = [], [], [], [], []
        proxy_cpu = 0.0
        for i in range(bulk_repeats):
            # alternate the order so that drifting noise hits every side alike
            before = proxy_ps.cpu_times()
            if i % 2:
                p = bulk(p_sink.port, bulk_size)
                d = bulk(sink_up.port, bulk_size)
            else:
                d = bulk(sink_up.port, bulk_size)
                p = bulk(p_sink.port, bulk_size)
            after = proxy_ps.cpu_times()
            proxy_cpu += after.user - before.user + after.system - before.system
            direct_t.append(d)
            proxied_t.append(p)
            ratios.append(p / d)
            if socat is not None:
                s = bulk(socat[1], bulk_size)
                socat_t.append(s)
                vs_socat.append(p / s)
        if socat is not None:
            socat[0].kill()
            socat[0].wait()
        print(f"\n1. bulk throughput, {bulk_size // MiB} MiB, no toxics, {bulk_repeats} pairs")
        print(f"   direct loopback   {statistics.median(direct_t):9.0f} MB/s")
        print(f"   through proxy     {statistics.median(proxied_t):9.0f} MB/s")
        print(f"   ratio             {statistics.median(ratios):9.1%}   (goal >= 75%)")
        if socat is not None:
            ceiling = statistics.median(s / d for s, d in zip(socat_t, direct_t, strict=True))
            print(f"   through socat     {statistics.median(socat_t):9.0f} MB/s"
                  f"   ({ceiling:.1%} of direct: a C proxy's ceiling here)")  # fmt: skip
            print(f"   proxy / socat     {statistics.median(vs_socat):9.1%}")
        else:
            print("   (install socat to compare with a proxy written in C)")
        gib = bulk_repeats * bulk_size / (1024 * MiB)
        cpu = proxy_cpu / gib
        print(f"   proxy CPU per GiB {cpu:9.2f} s      (capacity on a free core ~{1 / cpu:.1f} GiB/s;"
              f" {psutil.cpu_count()} cpus, load {psutil.getloadavg()[0]:.1f})")  # fmt: skip

        # 2. added latency
        add50, add99, d50s, p50s = [], [], [], []
        for _ in range(repeats):
            d = pingpong(echo_up.port, pings)
            p = pingpong(p_echo.port, pings)
            d50s.append(pct(d, 0.5))
            p50s.append(pct(p, 0.5))
            add50.append(pct(p, 0.5) - pct(d, 0.5))
            add99.append(pct(p, 0.99) - pct(d, 0.99))
        print(f"\n2. small request/response (64 B), {pings} round trips")
        print(f"   direct round trip p50     {statistics.median(d50s) * 1e6:8.0f} us")
        print(f"   proxied round trip p50    {statistics.median(p50s) * 1e6:8.0f} us")
        a50, a99 = statistics.median(add50), statistics.median(add99)
        print(f"   added per round trip  p50 {a50 * 1e6:8.0f} us   p99 {a99 * 1e6:8.0f} us")
        print(f"   added per hop (/2)    p50 {a50 / 2 * 1e6:8.0f} us   p99 {a99 / 2 * 1e6:8.0f} us"
              "   (goal p50 <= 150 us)")  # fmt: skip

        # 3. latency toxic accuracy
        errs50, errs99, means = [], [], []
        for _ in range(repeats):
            base = statistics.median(pingpong(echo_up.port, 200))
            lat = [t - base for t in pingpong(p_lat.port, 100)]
            err = [abs(x - 0.020) for x in lat]
            errs50.append(pct(err, 0.5))
            errs99.append(pct(err, 0.99))
            means.append(statistics.mean(lat))
        print("\n3. latency toxic 20 ms (downstream), 100 round trips minus direct baseline")
        print(f"   measured mean             {statistics.median(means) * 1e3:8.2f} ms")
        print(f"   |error| p50               {statistics.median(errs50) * 1e3:8.2f} ms"
              "   (goal within 2 ms)")  # fmt: skip
        print(f"   |error| p99               {statistics.median(errs99) * 1e3:8.2f} ms")

        # 4. concurrent connections
        rss_before = proxy_ps.memory_info().rss
        count = 1000
        opened, pinged, ok, rss_held = asyncio.run(bench_hold(client, count, proxy_ps))
        print(f"\n4. {count} concurrent connections held through one proxy")
        print(f"   opened in {opened:.2f} s, all pinged again after 1 s hold in {pinged:.2f} s")
        print(f"   healthy {ok}/{count}; proxy RSS {rss_before / MiB:.0f} -> "
              f"{rss_held / MiB:.0f} MiB while held")  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
