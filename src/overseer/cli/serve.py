"""`overseer serve`: the live view as a small web page (the app is overseer.serve)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import typer

from overseer.cli.common import WorkspaceOption, open_ws, stdout
from overseer.errors import UsageError


def serve(
    workspace: Path = WorkspaceOption,
    host: str = typer.Option(
        "127.0.0.1", "--host", help="The address to listen on; anything but loopback needs a token."
    ),
    port: int = typer.Option(8765, "--port", "-p", help="The port to listen on (0: any free one)."),
    token: str | None = typer.Option(
        None, "--token", envvar="OVERSEER_SERVE_TOKEN", help="Required on every request (?token=T or a Bearer header)."
    ),
) -> None:
    """The live view as a web page that updates itself: tasks, events, findings, diff, breakpoints.

    At http://HOST:PORT/ the tasks and their states, the focused task's events as they come,
    its findings and its diff, and the open breakpoints with the `overseer resolve` command
    that answers each. `?task=N` focuses a task; `/api/state` gives the same data as JSON,
    `/events` as server-sent events.

    It only reads the store, so it can run beside `overseer run`. Ctrl-C stops it.

    It listens on 127.0.0.1 unless --host says otherwise; on any other address it requires
    a token (`?token=T` or `Authorization: Bearer T`), given with --token or made and printed
    with the URL."""
    from overseer import serve as web  # Starlette and the store: only when the command runs

    if token is None and not web.is_loopback(host):
        token = web.new_token()
    if token == "":
        raise UsageError("--token is empty", hint="give a token, or leave --token out to have one generated")
    with open_ws(workspace) as ws:
        app = web.create_app(web.reader(ws.store, ws.project_id, ws.path), token=token)
        sock = web.bind(host, port)
        stdout().print(f"live view of {ws.path} at {_url(host, sock.getsockname()[1], token)}", markup=False)
        stdout().print("Ctrl-C stops it", style="dim")
        sys.stdout.flush()
        try:
            web.run(app, sock)
        except KeyboardInterrupt:  # uvicorn has stopped cleanly, then passes the Ctrl-C on
            pass
        finally:
            sock.close()
    stdout().print("stopped")


def _url(host: str, port: int, token: str | None) -> str:
    shown = host if host not in ("0.0.0.0", "::", "") else socket.gethostname()  # every address: one of them
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
