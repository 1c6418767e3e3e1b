"""What the scripted servers share: a threaded HTTP server on 127.0.0.1 at a free port, served
from a daemon thread, and a request handler that answers JSON and logs nothing."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Self, TypeVar

ScriptT = TypeVar("ScriptT")


class ScriptServer(ThreadingHTTPServer, Generic[ScriptT]):
    """The HTTP server; handlers reach the script as `self.server.script`."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], script: ScriptT) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.script = script


class QuietJsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # silence the default stderr log
        return

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class LocalServer(Generic[ScriptT]):
    """Serve `script` through `handler`; a context manager that starts and stops the thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], script: ScriptT) -> None:
        self._script = script
        self._server = ScriptServer(handler, script)
        # A short poll interval: shutting down waits for it, and tests start many servers.
        poll = {"poll_interval": 0.02}
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs=poll, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
