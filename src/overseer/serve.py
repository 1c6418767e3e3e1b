"""`overseer serve`'s web app: the live view (`live.snapshot`) as one page that updates itself.

Three routes, all read-only (the app reads the store and never runs or answers a task):

- `/` one HTML page (`serve.html`, no build step) with the snapshot of the moment inside, so it paints
  at once, then listens to `/events` with `EventSource`;
- `/events` server-sent events: the snapshot as JSON, sent when it changes (the store is read every
  `interval` seconds in a worker thread, off the event loop);
- `/api/state` the same JSON, once.

`?task=N` focuses a task. With a token, every request must carry it (`?token=` or
`Authorization: Bearer`), else 401; the CLI requires one when bound to a non-loopback address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import uvicorn
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from overseer import live
from overseer.errors import UsageError
from overseer.state.store import Store

logger = logging.getLogger(__name__)

Read = Callable[[int | None], dict[str, Any]]  # focus -> the snapshot
POLL_S = 0.5


def reader(store: Store, project_id: int, workspace: Path) -> Read:
    """What the page shows: `live.snapshot`, with the workspace it belongs to."""

    def read(focus: int | None) -> dict[str, Any]:
        return {"workspace": str(workspace)} | live.snapshot(store, project_id, workspace, focus)

    return read


def create_app(read: Read, *, token: str | None = None, interval: float = POLL_S) -> Starlette:
    page = resources.files("overseer").joinpath("serve.html").read_text(encoding="utf-8")

    async def index(request: Request) -> Response:
        state = await asyncio.to_thread(read, _focus(request))
        return HTMLResponse(page.replace("__STATE__", _inline(state)))

    async def state(request: Request) -> Response:
        return JSONResponse(await asyncio.to_thread(read, _focus(request)))

    async def events(request: Request) -> Response:
        return EventSourceResponse(_changes(read, _focus(request), interval), ping=15)

    routes = [Route("/", index), Route("/api/state", state), Route("/events", events)]
    middleware = [Middleware(TokenRequired, token=token)] if token else []
    return Starlette(routes=routes, middleware=middleware)


async def _changes(read: Read, focus: int | None, interval: float) -> AsyncIterator[ServerSentEvent]:
    """A `snapshot` event now, then one each time the snapshot differs from the last one sent."""
    last = None
    while True:
        data = json.dumps(await asyncio.to_thread(read, focus), sort_keys=True, default=str)
        if data != last:
            last = data
            yield ServerSentEvent(data=data, event="snapshot")
        await asyncio.sleep(interval)


def _inline(state: dict[str, Any]) -> str:
    """JSON that is safe inside a <script> element: no `</script>` can end it early."""
    return json.dumps(state, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _focus(request: Request) -> int | None:
    task = request.query_params.get("task", "")
    return int(task) if task.isdigit() else None


class TokenRequired:
    """Refuses (401) every request that does not carry the token, as `?token=` or a Bearer header."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._carries_token(Request(scope)):
            response = PlainTextResponse("a token is required: ?token=T or Authorization: Bearer T", status_code=401)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _carries_token(self, request: Request) -> bool:
        given = request.query_params.get("token") or request.headers.get("authorization", "").removeprefix("Bearer ")
        return secrets.compare_digest(given.encode(), self.token.encode())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: only its addresses would tell, so it counts as elsewhere
        return False


def new_token() -> str:
    return secrets.token_urlsafe(18)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound and listening before the URL is printed (so `--port 0` prints the
    real port, and a client that reads the URL is queued rather than refused while uvicorn starts)."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc}", hint="pick another --port or --host") from exc
    sock.set_inheritable(True)
    return sock


def run(app: Starlette, sock: socket.socket) -> None:
    """Serve until Ctrl-C (uvicorn stops cleanly: open event streams are closed within 2 s)."""
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
