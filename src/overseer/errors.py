"""Errors overseer raises on purpose, each with what went wrong, the context and a hint.

    OverseerError                 base: message, context (task id, attempt, path...), hint
    ├── UsageError                bad input from the user (unknown task id, missing workspace)  exit 2
    ├── ConfigError               invalid configuration, missing binary or model file           exit 2
    ├── StoreError                the state database could not be read or written               exit 1
    │   └── StoreLockedError      another process holds the database lock
    ├── AgentError                the coding agent could not be started or crashed              exit 1
    │   └── AgentAuthError        its model service refused its credentials: a human logs in
    ├── SupervisorError           the supervising LLM failed                                    exit 1
    ├── CheckpointError           a snapshot or rollback of the workspace failed                exit 1
    └── HostError                 the machine a remote workspace lives on could not be reached  exit 1

Third-party exceptions are translated at the adapter boundary (`raise ... from exc`); the CLI
turns any OverseerError into one line and an exit code in one place (`cli/app.py`).
"""

from __future__ import annotations

from typing import Any


class OverseerError(Exception):
    exit_code = 1

    def __init__(self, message: str, *, hint: str = "", **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.context = context

    def __str__(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.context.items() if v is not None)
        text = f"{self.message} ({where})" if where else self.message
        return f"{text}; {self.hint}" if self.hint else text


class UsageError(OverseerError):
    exit_code = 2


class ConfigError(OverseerError):
    exit_code = 2


class StoreError(OverseerError):
    pass


class StoreLockedError(StoreError):
    pass


class AgentError(OverseerError):
    pass


class AgentAuthError(AgentError):
    pass


class SupervisorError(OverseerError):
    pass


class CheckpointError(OverseerError):
    pass


class HostError(OverseerError):
    pass
