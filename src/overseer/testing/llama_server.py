"""A real OpenAI-compatible server on loopback: llama-cpp-python's `llama_cpp.server` serving a GGUF model.

Not a fake: the `openai` supervisor's tests, and `make bench`, talk to the same server a user would
run (`pip install 'llama-cpp-python[server]'`). It needs the server extra, which overseer's own
install does not carry (a dev dependency here).

    from overseer.testing.llama_server import LlamaCppServer

    with LlamaCppServer(model_path, alias="smollm2", log=tmp / "server.log") as server:
        llm = OpenAILLM(OpenAIConfig(base_url=server.base_url, model="smollm2", response_format="json_object"))
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

STARTUP_TIMEOUT_S = 120.0  # the packaged model loads in under a second; a busy 2-core machine is slower


class LlamaCppServer:
    """Start `python -m llama_cpp.server` on a free 127.0.0.1 port; stop it (and wait for it) on exit."""

    def __init__(self, model_path: Path, *, alias: str, log: Path, n_ctx: int = 2048, threads: int = 1) -> None:
        self.model_path, self.alias, self.log = model_path, alias, log
        self.port = _free_port()
        self._args = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(model_path), "--model_alias", alias,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--n_ctx", str(n_ctx), "--n_threads", str(threads), "--n_threads_batch", str(threads),
            "--seed", "0",
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.root + "/v1"

    def __enter__(self) -> Self:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(self._args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.process.returncode}: {self._log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/models", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise RuntimeError(f"llama_cpp.server not ready after {STARTUP_TIMEOUT_S:.0f} s: {self._log_tail()}")

    def _log_tail(self) -> str:
        lines = self.log.read_text(errors="replace").strip().splitlines()
        return " | ".join(lines[-5:]) or "no output"


def _free_port() -> int:
    """A port nothing listens on now; the server binds it a moment later (the usual, tiny race)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
