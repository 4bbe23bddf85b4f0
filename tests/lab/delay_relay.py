#!/usr/bin/env python3
"""A TCP relay that adds a fixed one-way delay in each direction: the
lab's stand-in for a slow link (the kernel here has no netem qdisc).

    delay_relay.py --delay-ms D [--connect-timeout-ms T] LISTEN=TARGET ...

LISTEN and TARGET are IPv4 HOST:PORT. For each connection accepted on
LISTEN the relay waits D (the SYN's trip), connects to TARGET and then
forwards every chunk D after it was read, in order, in both directions, so
a round trip through it takes 2 D more than the path behind it. An end or
error on either side ends both after the data read before it has gone out.
A TARGET that cannot be reached within T (default 2000 ms; at once when the
link is down: no route) closes the client, as a dead link would fail its
connect. Prints "delay_relay ready" on stdout once every LISTEN is bound;
SIGTERM stops it. Python 3 standard library only.
"""
import argparse
import asyncio
import resource
import signal
import socket
import sys

READY = "delay_relay ready"
CHUNK = 65536


def hostport(text):
    host, sep, port = text.rpartition(":")
    try:
        socket.inet_pton(socket.AF_INET, host)
    except OSError:
        host = ""
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError("not IPv4 HOST:PORT: %r" % text)
    return host, int(port)


def route(text):
    listen, sep, target = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError("not LISTEN=TARGET: %r" % text)
    return hostport(listen), hostport(target)


class Pipe:
    """One direction: chunks stamped when read, written `delay` later, in
    order. read() queues an empty chunk at the end (or on an error); write()
    returns once it has written everything before that, or on an error."""

    def __init__(self, loop, delay, reader):
        self.loop = loop
        self.delay = delay
        self.reader = reader
        self.queue = asyncio.Queue()

    async def read(self):
        try:
            while True:
                data = await self.reader.read(CHUNK)
                self.queue.put_nowait((self.loop.time() + self.delay, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            self.queue.put_nowait((self.loop.time() + self.delay, b""))

    async def write(self, writer):
        try:
            while True:
                due, data = await self.queue.get()
                wait = due - self.loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            return


def _nodelay(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _close(writer):
    try:
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    except (ConnectionError, OSError, asyncio.TimeoutError):
        pass


async def _stop(tasks):
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def relay(loop, delay, connect_timeout, target, client_reader, client_writer):
    """One accepted connection, relayed to target until either side ends."""
    _nodelay(client_writer)
    up = Pipe(loop, delay, client_reader)
    # The client's bytes are read (and stamped) while the connect is on.
    tasks = [asyncio.ensure_future(up.read())]
    upstream = None
    try:
        await asyncio.sleep(delay)
        up_reader, upstream = await asyncio.wait_for(
            asyncio.open_connection(*target), connect_timeout)
        _nodelay(upstream)
        down = Pipe(loop, delay, up_reader)
        tasks.append(asyncio.ensure_future(down.read()))
        writers = [asyncio.ensure_future(up.write(upstream)),
                   asyncio.ensure_future(down.write(client_writer))]
        tasks += writers
        await asyncio.wait(writers, return_when=asyncio.FIRST_COMPLETED)
    except (OSError, asyncio.TimeoutError):
        pass  # the target is unreachable: the client is closed
    finally:
        await _stop(tasks)
        if upstream is not None:
            await _close(upstream)
        await _close(client_writer)


async def main(args):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    delay = args.delay_ms / 1000.0
    servers = []
    for (lhost, lport), target in args.routes:
        def handler(r, w, target=target):
            return relay(loop, delay, args.connect_timeout_ms / 1000.0, target, r, w)
        servers.append(await asyncio.start_server(handler, lhost, lport, backlog=4096,
                                                  reuse_address=True))
    print(READY, flush=True)
    await stop.wait()
    for server in servers:
        server.close()


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--connect-timeout-ms", type=float, default=2000)
    parser.add_argument("routes", type=route, nargs="+", metavar="LISTEN=TARGET")
    args = parser.parse_args(argv)
    if not 0 <= args.delay_ms <= 10000:
        parser.error("--delay-ms must be 0..10000")
    return args


if __name__ == "__main__":
    arguments = parse(sys.argv[1:])
    # A thousand relayed connections are two thousand descriptors.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(arguments))
