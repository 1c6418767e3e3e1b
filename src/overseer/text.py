"""The one way overseer shortens long text for a prompt, a log or a row: say what was cut."""

from __future__ import annotations


def clip(text: str, limit: int) -> str:
    """The head of `text` within `limit` characters, ending on a whole line when there is one,
    followed by a note of how much was cut (the note is not counted in `limit`)."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    if "\n" in head:
        head = head[: head.rindex("\n") + 1]
    return f"{head}[... {len(text) - len(head)} of {len(text)} characters cut]"


def clip_tail(text: str, limit: int) -> str:
    """The end of `text` within `limit` characters (where a command's output says how it ended),
    starting on a whole line when there is one, after a note of how much was cut."""
    if len(text) <= limit:
        return text
    tail = text[-limit:]
    if "\n" in tail[:-1]:
        tail = tail[tail.index("\n") + 1 :]
    return f"[... {len(text) - len(tail)} of {len(text)} characters cut]\n{tail}"
