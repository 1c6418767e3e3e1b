"""The operator's log: what overseer did, and every error it caught with its cause.

stdlib `logging`, written to `.overseer/overseer.log` of the workspace a command opens (rotated at
`MAX_BYTES`, `BACKUPS` old files kept), and to stderr as well with `--verbose`. Each handler masks
secrets with the store's `Redactor`, traceback text included, so the log is as safe to attach to a
bug report as the database is.

Modules log through `logging.getLogger(__name__)` as usual; `context(task=..., attempt=...)` tags
every record logged inside it with the task and attempt it belongs to. The tag lives in a context
variable: asyncio tasks and anyio's worker threads inherit it, a plain `threading.Thread` does not
(copy the context into it, as the workspace watcher does).

The CLI calls `start` once per command, `to_file` when it opens a workspace and `stop` at the end;
nothing is configured on import.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from logging.handlers import RotatingFileHandler
from pathlib import Path

from overseer.redact import Redactor

LOG_FILE = "overseer.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
_ROOT = "overseer"
_FORMAT = "%(asctime)s %(levelname)s %(name)s%(where)s: %(message)s"
_where: ContextVar[str] = ContextVar("overseer_log_where", default="")


@contextmanager
def context(**fields: object) -> Iterator[None]:
    """Tag the records logged inside with `fields` ("[task 3 attempt 2]"), added to any outer tags."""
    token = _where.set(_where.get() + "".join(f" {name} {value}" for name, value in fields.items()))
    try:
        yield
    finally:
        _where.reset(token)


class _Redacting(logging.Filter):
    """Masks secrets in the message and the traceback, and adds the context's tag as `where`."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self._redactor.redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redactor.redact(record.stack_info)
        if not hasattr(record, "where"):  # the first handler sees the thread that logged
            tag = _where.get().strip()
            record.where = f" [{tag}]" if tag else ""
        return True


class _FileHandler(RotatingFileHandler):
    def handleError(self, record: logging.LogRecord) -> None:
        # A full disk or a read-only state directory must not turn a command's one clear line into
        # logging's own traceback on stderr; there is nowhere left to say it, so it is dropped.
        pass


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]  # typeshed: StreamHandler[TextIO]
    pass


# Without a handler of its own, Python's last-resort handler would print every warning and error,
# traceback and all, on stderr: the CLI prints its one line itself, and the log says the rest.
logging.getLogger(_ROOT).addHandler(logging.NullHandler())


def start(*, verbose: bool, redactor: Redactor) -> None:
    """Log overseer's INFO and above; with `verbose`, on stderr too."""
    logger = logging.getLogger(_ROOT)
    logger.setLevel(logging.INFO)
    if verbose:
        _add(logger, _StderrHandler(sys.stderr), redactor)


def to_file(state_dir: Path, redactor: Redactor) -> Path:
    """Also write the log to `state_dir/overseer.log` (once per command, whatever opens it again)."""
    path = (state_dir / LOG_FILE).resolve()
    logger = logging.getLogger(_ROOT)
    if not any(isinstance(h, _FileHandler) and Path(h.baseFilename) == path for h in logger.handlers):
        # delay: the file is opened by the first record, so a failure to open it is handled like any
        # other failed write (see _FileHandler.handleError).
        handler = _FileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True)
        _add(logger, handler, redactor)
    return path


def stop() -> None:
    """Close and remove what `start` and `to_file` added (tests run many commands in one process)."""
    logger = logging.getLogger(_ROOT)
    for handler in [h for h in logger.handlers if isinstance(h, _FileHandler | _StderrHandler)]:
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.NOTSET)


def _add(logger: logging.Logger, handler: logging.Handler, redactor: Redactor) -> None:
    handler.addFilter(_Redacting(redactor))
    handler.setFormatter(logging.Formatter(_FORMAT))
    logger.addHandler(handler)
