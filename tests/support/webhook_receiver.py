"""A real HTTP receiver for webhook tests, on loopback: it answers each POST with the next
status of its script (then 200) and hands every request to the test as it arrives."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int


class Receiver:
    def __init__(self, loop: asyncio.AbstractEventLoop, script: Sequence[int]) -> None:
        self._loop = loop
        self._script = list(script)
        self._lock = threading.Lock()
        self.requests: asyncio.Queue[Received] = asyncio.Queue()
        self.url = ""
        self._hold = False
        self._held: asyncio.Queue[bytes] = asyncio.Queue()
        self._release = threading.Event()

    def hold_next(self) -> None:
        """Keep the next request unanswered until ``release`` (a sender that dies meanwhile
        never learns its outcome); it is not counted as received."""
        with self._lock:
            self._hold, self._release = True, threading.Event()

    def holding(self) -> threading.Event | None:
        with self._lock:
            if not self._hold:
                return None
            self._hold = False
            return self._release

    def was_held(self, body: bytes) -> None:
        self._loop.call_soon_threadsafe(self._held.put_nowait, body)

    async def held(self, timeout: float = 30.0) -> bytes:
        """The body of the request being held, once it has arrived."""
        return await asyncio.wait_for(self._held.get(), timeout)

    def release(self) -> None:
        self._release.set()

    def answer(self) -> int:
        with self._lock:
            return self._script.pop(0) if self._script else 200

    def script(self, statuses: Sequence[int]) -> None:
        """Answer the next requests with ``statuses`` (then 200)."""
        with self._lock:
            self._script = list(statuses)

    def arrived(self, received: Received) -> None:
        self._loop.call_soon_threadsafe(self.requests.put_nowait, received)

    async def next(self, timeout: float = 30.0) -> Received:
        return await asyncio.wait_for(self.requests.get(), timeout)


@contextmanager
def receiving(script: Sequence[int] = ()) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 (its ``url``), for the block."""
    receiver = Receiver(asyncio.get_running_loop(), script)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            release = receiver.holding()
            if release is not None:
                receiver.was_held(body)
                release.wait(120)
                return  # no answer: the connection closes
            status = receiver.answer()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            receiver.arrived(Received(self.path, dict(self.headers.items()), body, status))

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
