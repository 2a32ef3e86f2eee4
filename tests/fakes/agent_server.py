"""A fake AI agent: a real HTTP server on localhost speaking the `wapipe` agent protocol.

Switchable per test: latency, a hold (answers wait for an event), HTTP errors, outages
(the port stops accepting), a demo mode that answers like `wapipe demo-agent`. Every call is
recorded (user, text, start/end times) so tests can check ordering and counts.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from wapipe.testing.harness import free_port
from worker.demo_agent import answer as demo_answer

__all__ = ["FakeAgent", "free_port"]


@dataclass
class AgentCall:
    user: str
    text: str
    started: float
    ended: float = 0.0
    body: dict[str, Any] = field(default_factory=dict)  # the request as sent


@dataclass
class FakeAgent:
    host: str = "127.0.0.1"
    port: int = 0
    latency_s: float = 0.0
    status: int = 200  # anything else: answered with that HTTP status
    demo: bool = False
    healthy: bool = True  # what GET /healthz says, independent of how calls go
    answer: Any = None  # when set: every call is answered 200 with this JSON as is
    # A gate: when not None, every call is recorded at once and answered only once the event
    # is set (keeps a worker's slots busy exactly until a condition holds; set it in a finally)
    hold: threading.Event | None = None
    calls: list[AgentCall] = field(default_factory=list)
    health_checks: int = 0
    _server: ThreadingHTTPServer | None = None
    _open: set[socket.socket] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeAgent:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with fake._lock:
                    fake._open.add(self.connection)

            def finish(self) -> None:
                with fake._lock:
                    fake._open.discard(self.connection)
                with contextlib.suppress(OSError):  # the client or stop() closed it
                    super().finish()

            def _send(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                fake.health_checks += 1
                self._send(200 if fake.healthy else 503, {"ok": fake.healthy})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                req = json.loads(self.rfile.read(length) or b"{}")
                call = AgentCall(
                    str(req.get("user")), str(req.get("text")), time.monotonic(), body=req
                )
                with fake._lock:
                    fake.calls.append(call)
                if fake.hold is not None:
                    fake.hold.wait()
                if fake.latency_s:
                    time.sleep(fake.latency_s)
                call.ended = time.monotonic()
                if fake.status != 200:
                    self._send(fake.status, {"error": "fake failure"})
                elif fake.answer is not None:
                    self._send(200, fake.answer)
                elif fake.demo:
                    self._send(200, demo_answer(call.text, req.get("context") or {}))
                else:
                    self._send(
                        200,
                        {
                            "reply": f"echo: {call.text}",
                            "context": {"seen": len(req.get("history") or [])},
                        },
                    )

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                # A client that went away (a worker stopped, stop() closed the socket) is
                # expected of a fake. Anything else is one line: the default traceback
                # printed from this thread, after its test ended, ran Python 3.11's
                # ast.parse (caret anchors) beside another test's ast.parse, and CPython
                # 3.11's AST module state is not safe for that ("AST constructor
                # recursion depth mismatch" in tests/unit/test_database_seam.py).
                exc = sys.exc_info()[1]
                if not isinstance(exc, (ConnectionError, TimeoutError)):
                    sys.stderr.write(f"fake agent: {exc!r} from {client_address}\n")

        self._server = Server((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """An outage: the port refuses connections until start() again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:  # kept-alive connections die with the process they belong to
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._open.clear()

    def calls_of(self, user: str) -> list[AgentCall]:
        with self._lock:
            return [c for c in self.calls if c.user == user]
