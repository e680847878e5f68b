"""What the fake provider servers share: an aiohttp server on 127.0.0.1, a request log, a fault plan.

``FakeServer`` starts on a free port (``async with`` or ``start()``/``stop()`` in the running loop), records
each exchange, wakes whoever waits for a change, and applies faults planned by the test::

    srv.faults.plan(status=503, times=2, method="sendMessage")    # the next 2 sendMessage answer 503
    srv.faults.plan(delay=0.8)                                    # the next request answers 0.8 s late
    srv.faults.plan(drop=True, to="+262692123456")               # the connection closes, no answer
    fault = srv.faults.plan(status=500, times=3)
    ...
    assert fault.hits == 3 and not srv.faults.pending

A fault matches a request when each of its filters (``method=``, ``chat_id=``, ``to=``, ``operation=``:
whatever the fake describes a request by) equals the request's value, ignoring case; ``None`` or ``"*"``
matches anything. One fault per request: the first planned that matches, counted and dropped from the plan
once its ``times`` are used. What a fault's answer looks like (Telegram's ``{"ok": false, ...}``, Twilio's
error body and code) is the fake's own business: it reads ``fault.details``.

Waiting is on the server's signals, never on a sleep: ``await srv.wait_until(lambda: len(srv.messages) == 2)``
checks again each time a request is recorded or answered, or the fake's state changes (``notify()``). The
fake's own waits (a long poll, a webhook queue) use ``wait_change``, which only ``notify()`` wakes.

No pytest import: benchmarks and the standalone fakes use it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Self, TypeVar

import aiohttp
from aiohttp import web

__all__ = ["Exchange", "FakeServer", "Fault", "FaultPlan"]

ANY = "*"


@dataclass
class Fault:
    """What the next ``times`` matching requests get: ``status`` (an error answer), after ``delay`` seconds,
    or no answer at all (``drop``: the connection closes). Delay alone: the request is handled, late."""

    times: int = 1
    status: int | None = None
    delay: float = 0.0
    drop: bool = False
    where: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    hits: int = 0

    @property
    def answers(self) -> bool:
        """True when the fault answers in the request's place (an error status, or a dropped connection)."""
        return self.drop or self.status is not None

    @property
    def spent(self) -> bool:
        return self.hits >= self.times

    def matches(self, request: Mapping[str, Any]) -> bool:
        return all(_same(wanted, request.get(name)) for name, wanted in self.where.items())


def _same(wanted: Any, actual: Any) -> bool:
    if wanted is None or wanted == ANY:
        return True
    return str(wanted).casefold() == str(actual).casefold()


class FaultPlan:
    """Faults planned by a test, taken one per request, in the order they were planned."""

    def __init__(self) -> None:
        self.pending: list[Fault] = []
        self.taken: list[Fault] = []

    def plan(
        self,
        *,
        times: int = 1,
        status: int | None = None,
        delay: float = 0.0,
        drop: bool = False,
        details: Mapping[str, Any] | None = None,
        **where: Any,
    ) -> Fault:
        """Plan a fault for the next ``times`` requests matching ``where``; returns it (to count its hits)."""
        if times < 1:
            raise ValueError("times must be at least 1")
        if delay < 0:
            raise ValueError("delay must not be negative")
        if status is None and not drop and not delay:
            raise ValueError("a fault needs a status, a delay or drop=True")
        fault = Fault(times, status, delay, drop, dict(where), dict(details or {}))
        self.pending.append(fault)
        return fault

    def take(self, **request: Any) -> Fault | None:
        """The fault for this request (described by keywords such as method=, to=), counted; or None."""
        for fault in self.pending:
            if fault.matches(request):
                fault.hits += 1
                if fault.spent:
                    self.pending.remove(fault)
                    self.taken.append(fault)
                return fault
        return None

    @property
    def hits(self) -> int:
        """Requests hit by a fault so far (pending or spent)."""
        return sum(f.hits for f in self.pending) + sum(f.hits for f in self.taken)

    def clear(self) -> None:
        """Forget the faults not used yet (and the count of those used)."""
        self.pending.clear()
        self.taken.clear()


@dataclass(kw_only=True)
class Exchange:
    """One request a fake received: when, how it was answered, and the fault that hit it, if any."""

    at: float = field(default_factory=time.monotonic)
    status: int | None = None  # None while being handled, or when the connection was dropped
    fault: Fault | None = None

    @property
    def injected(self) -> bool:
        """Answered by a planned fault (an error status or a dropped connection), not by the fake's rules."""
        return self.fault is not None and self.fault.answers

    @property
    def delayed(self) -> float:
        """Seconds a planned fault held the request back."""
        return self.fault.delay if self.fault is not None else 0.0

    @property
    def dropped(self) -> bool:
        return self.fault is not None and self.fault.drop


E = TypeVar("E", bound=Exchange)


class FakeServer(ABC, Generic[E]):
    """An aiohttp server on 127.0.0.1 (port 0: a free one) with a request log and a fault plan.

    Subclasses add their routes in ``add_routes`` and may extend ``started``/``stopping``.
    """

    client_max_size = 2 * 1024 * 1024

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.exchanges: list[E] = []
        self.faults = FaultPlan()
        self.closing = False
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._waiters: set[asyncio.Future[None]] = set()
        self._watchers: set[asyncio.Future[None]] = set()
        self._closed = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------------

    @abstractmethod
    def add_routes(self, app: web.Application) -> None:
        """The provider's routes (each fake adds its own API)."""

    async def started(self) -> None:
        """Called once the server listens."""

    async def stopping(self) -> None:
        """Called when the server begins to stop, before its sockets close."""

    async def start(self) -> Self:
        """Bind and serve in the running event loop."""
        app = web.Application(client_max_size=self.client_max_size, middlewares=[_drop_connection])
        self.add_routes(app)
        self.closing = False
        self._closed.clear()
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, self.host, self.port).start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        await self.started()
        return self

    async def stop(self) -> None:
        """Wake whoever waits, close the client session and the listening socket."""
        self.closing = True
        self._closed.set()
        self.notify()
        await self.stopping()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def address(self) -> str:
        """ "http://127.0.0.1:PORT" once started."""
        if self._runner is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://{self.host}:{self.port}"

    def session(self) -> aiohttp.ClientSession:
        """A client session for what the fake sends itself (webhooks, status callbacks); closed on stop."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    # -- the request log ------------------------------------------------------------------------

    def record(self, exchange: E) -> E:
        self.exchanges.append(exchange)
        _wake(self._watchers)
        return exchange

    def answered(self, exchange: E, status: int | None) -> None:
        exchange.status = status
        _wake(self._watchers)

    def progress(self) -> None:
        """Something a test may wait for happened (a message kept, a callback sent): check again."""
        _wake(self._watchers)

    def clear_log(self) -> None:
        self.exchanges.clear()

    # -- faults ---------------------------------------------------------------------------------

    async def apply(self, fault: Fault | None) -> None:
        """The time part of a fault: wait its delay (cut short by stop), then drop the connection if told.

        Raises ``ConnectionDropped``, which the server's middleware turns into a closed connection.
        """
        if fault is None:
            return
        self.progress()  # a fault hit: tests may wait for that
        if fault.delay:
            await self.pause(fault.delay)
        if fault.drop:
            raise ConnectionDropped

    # -- waiting on signals ---------------------------------------------------------------------

    def notify(self) -> None:
        """The fake's state changed (a new update, a webhook set, a stop): wake whoever waits."""
        _wake(self._waiters)
        _wake(self._watchers)

    async def wait_change(self, timeout: float) -> bool:
        """Wait for the next ``notify()`` (True), at most ``timeout`` seconds (False); at once when closing."""
        if self.closing or timeout <= 0:
            return False
        return await _wait_on(self._waiters, timeout)

    async def pause(self, seconds: float) -> None:
        """``seconds`` of the server's time (a slow answer, a retry delay); cut short when the server stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), seconds)

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 20.0) -> None:
        """Wait until ``condition()`` holds, checking it at each change; TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closing:
                raise TimeoutError(f"{type(self).__name__}: condition not met within {timeout} s")
            await _wait_on(self._watchers, remaining)


def _wake(waiters: set[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)
    waiters.clear()


async def _wait_on(waiters: set[asyncio.Future[None]], timeout: float) -> bool:
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waiters.add(waiter)
    try:
        await asyncio.wait_for(waiter, timeout)
        return True
    except TimeoutError:
        return False
    finally:
        waiters.discard(waiter)


class ConnectionDropped(Exception):
    """Raised by a handler to close the connection without an answer (a fault with drop=True)."""


@web.middleware
async def _drop_connection(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ConnectionDropped:
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)  # never reaches the client: the connection is gone
