"""A real OpenAI-compatible server for the provider tests: llama-cpp-python's server on the packaged model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from overseer.llm.embedded import default_model_path
from overseer.testing.llama_server import LlamaCppServer

SERVED_MODEL = "smollm2"


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppServer]:
    """Started once per session on a free loopback port, stopped (and waited for) in the finalizer."""
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with LlamaCppServer(default_model_path(), alias=SERVED_MODEL, log=log) as server:
        yield server
    assert server.process is not None and server.process.poll() is not None  # gone, not orphaned
