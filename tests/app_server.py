"""Our app under uvicorn on 127.0.0.1, for the channel harnesses (webhooks need a real HTTP server).

    sock = bound_socket()
    public_url = url_of(sock)          # known before the app is built (the channels sign against it)
    async with serving(app, sock):
        ...

No pytest import: the benchmarks use it too.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.types import ASGIApp


def bound_socket() -> socket.socket:
    """A listening address on 127.0.0.1 with a free port, held until uvicorn takes it (no race for the port)."""
    # IPPROTO_TCP, as uvicorn's own sockets: asyncio sets TCP_NODELAY only then (else 40 ms delayed ACKs)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


class _Server(uvicorn.Server):
    """uvicorn's server, which says when it listens (instead of a flag to poll)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:  # a failed lifespan startup leaves should_exit set
            self.ready.set()


@asynccontextmanager
async def serving(app: ASGIApp, sock: socket.socket) -> AsyncIterator[None]:
    """Serve `app` on `sock` (lifespan on: the channels start and stop with it); the socket is closed after."""
    # a long keep-alive: httpx reuses idle connections, uvicorn's default (5 s) may close one under it
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False, timeout_keep_alive=60)
    server = _Server(config)
    serve = asyncio.create_task(server.serve(sockets=[sock]))
    ready = asyncio.create_task(server.ready.wait())
    try:
        await asyncio.wait([serve, ready], return_when=asyncio.FIRST_COMPLETED)
        if not server.ready.is_set():
            serve.result()  # raises what stopped it
            raise RuntimeError("uvicorn stopped before it listened")
        yield
    finally:
        ready.cancel()
        server.should_exit = True
        try:
            await serve
        finally:
            sock.close()
