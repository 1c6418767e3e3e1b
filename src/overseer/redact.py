"""Keep secrets out of everything overseer writes down.

Prompts, agent output and tool results routinely echo API keys (an agent runs `env`, a test prints
a config). The store passes every string it writes through a `Redactor`, so a secret that reaches
the agent's transcript never reaches the database file, its backups or a bug report.

Two nets: the exact values of known secrets (explicit, or taken from the environment by variable
name), and patterns that look like credentials whatever their origin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

REDACTED = "[REDACTED]"

# Variable names that say "my value is a credential"; matched as substrings of the upper-cased name.
_SECRET_NAME_PARTS = ("KEY", "TOKEN", "SECRET", "PASSWORD")
# Shorter values ("1", "true", "dev") are settings, not secrets, and would shred ordinary text.
_MIN_ENV_SECRET_LENGTH = 8

_T = TypeVar("_T")

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Anthropic keys first: they also match the generic `sk-` rule, but contain dashes it would stop at.
    # `\b` keeps words such as "task-..." intact.
    (re.compile(r"\bsk-ant-[A-Za-z0-9_\-]+"), REDACTED),
    # Optional dash-separated prefixes cover project keys such as `sk-proj-...`.
    (re.compile(r"\bsk-(?:[A-Za-z0-9]+-)*[A-Za-z0-9]{16,}[A-Za-z0-9_\-]*"), REDACTED),
    # The token must contain a digit: real tokens do, and prose such as "Bearer authentication"
    # (which reaches the store inside prompts) must survive.
    (
        re.compile(r"\b(Bearer\s+)(?=[A-Za-z0-9._~+/=\-]*\d)[A-Za-z0-9._~+/=\-]{8,}", re.IGNORECASE),
        rf"\g<1>{REDACTED}",
    ),
)


class Redactor:
    """Replaces secret values and credential-shaped strings with `[REDACTED]`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another one is replaced whole.
        values = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._exact = re.compile("|".join(map(re.escape, values))) if values else None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Redactor:
        """Treat the values of variables named like credentials (`*_API_KEY`, `*_TOKEN`...) as secrets."""
        return cls(
            value for name, value in environ.items() if _is_secret_name(name) and len(value) >= _MIN_ENV_SECRET_LENGTH
        )

    def redact(self, text: str) -> str:
        if self._exact is not None:
            text = self._exact.sub(REDACTED, text)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def redact_data(self, obj: _T) -> _T:
        """Redact every string inside nested dicts, lists and tuples; other values are kept as they are."""
        return self._walk(obj)  # type: ignore[no-any-return]

    def _walk(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            return {self._walk(key): self._walk(value) for key, value in obj.items()}
        if isinstance(obj, list):
            return [self._walk(item) for item in obj]
        if isinstance(obj, tuple):
            return tuple(self._walk(item) for item in obj)
        return obj


def _is_secret_name(name: str) -> bool:
    upper = name.upper()
    return any(part in upper for part in _SECRET_NAME_PARTS)
