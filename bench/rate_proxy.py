#!/usr/bin/env python3
"""An emulated network link for the benches (the kernel here has no sch_netem).

    rate_proxy.py --target HOST:PORT --port-file FILE [--mbps N] [--rtt-ms N]
                  [--parent PID] [--log FILE]

Listens on 127.0.0.1 (a free port, written to FILE once listening) and relays each
connection to HOST:PORT. --mbps: each direction has one token bucket of N MB/s (10^6
bytes) shared by all connections, as one link is shared by the parallel requests that
cross it; the bucket holds at most 256 KiB of burst, so a transfer's rate is the link's
within a fraction of a percent. --rtt-ms: a round trip of N ms, each byte delivered N/2
ms after it was read, each way, and a new connection's first bytes a further N ms later
(TCP's handshake). The delay is a delay line, not a pause between reads: a connection
keeps reading while what it read earlier is in flight, up to WINDOW bytes each way
(Linux's largest autotuned TCP window is 4-6 MiB), so one connection carries up to
WINDOW/RTT and parallel ones fill a bandwidth-delay product, as on a real link.
Exits when PID (the bench) is gone. --log: every 0.1 s with traffic,
"SECONDS BYTES-DOWN BYTES-UP CONNECTIONS" (totals so far), to see where a transfer
leaves the link idle.
"""
import argparse
import asyncio
import os
import time

CHUNK = 256 * 1024
WINDOW = 4 * 1024 * 1024


class Bucket:
    def __init__(self, rate):
        self.total = 0
        self.rate = rate  # bytes per second; 0: unlimited
        self.tokens = 0.0
        self.last = time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self, n):
        self.total += n
        if not self.rate:
            return
        # one taker at a time: the link's bytes go out in turn, not all at once
        async with self.lock:
            now = time.monotonic()
            self.tokens = min(CHUNK, self.tokens + (now - self.last) * self.rate)
            self.last = now
            self.tokens -= n
            if self.tokens < 0:
                await asyncio.sleep(-self.tokens / self.rate)


async def pipe(reader, writer, bucket, delay):
    # reading and delivering are two tasks joined by a queue of (due time, bytes), so a
    # read does not wait for the delivery of the one before it
    line = asyncio.Queue(maxsize=WINDOW // CHUNK)
    broken = []

    async def deliver():
        while True:
            due, data = await line.get()
            if data is None:
                return
            if broken:
                continue  # the reader is told, and drops what is in flight
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                writer.write(data)
                await writer.drain()
            except (ConnectionError, OSError):
                broken.append(True)

    out = asyncio.ensure_future(deliver())
    try:
        while not broken:
            data = await reader.read(CHUNK)
            if not data:
                break
            await bucket.take(len(data))
            await line.put((time.monotonic() + delay, data))
    except (ConnectionError, OSError):
        pass
    await line.put((0, None))  # after what is in flight: the end reaches the other side last
    await out
    try:
        if broken:
            writer.close()
        elif writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--mbps", type=float, default=0)
    ap.add_argument("--rtt-ms", type=float, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--parent", type=int, default=0)
    ap.add_argument("--log")
    a = ap.parse_args()
    host, port = a.target.rsplit(":", 1)
    up, down = Bucket(a.mbps * 1e6), Bucket(a.mbps * 1e6)
    rtt = a.rtt_ms / 1000

    conns = [0]

    async def relay(cr, cw):
        conns[0] += 1
        try:
            if rtt:
                await asyncio.sleep(rtt)  # SYN, SYN-ACK
            sr, sw = await asyncio.open_connection(host, int(port))
        except OSError:
            cw.close()
            return
        await asyncio.gather(pipe(cr, sw, up, rtt / 2), pipe(sr, cw, down, rtt / 2))
        cw.close()
        sw.close()

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.sockets[0].getsockname()[1])
    os.rename(tmp, a.port_file)
    log = open(a.log, "a", buffering=1) if a.log else None
    t0, last, tick = time.monotonic(), None, 0
    while True:
        await asyncio.sleep(0.1)
        now = (down.total, up.total, conns[0])
        if log and now != last:
            log.write("%.1f %d %d %d\n" % (time.monotonic() - t0, *now))
            last = now
        tick += 1
        if a.parent and tick % 10 == 0:
            try:
                os.kill(a.parent, 0)
            except ProcessLookupError:
                return


if __name__ == "__main__":
    asyncio.run(main())
