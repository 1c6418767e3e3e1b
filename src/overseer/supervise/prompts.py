"""Prompt rendering: every prompt overseer sends is a Jinja2 template in `templates/`."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("overseer.supervise", "templates"),
        undefined=StrictUndefined,  # a missing variable is a bug, not an empty string
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # plain-text prompts, never HTML
    )


def render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)
