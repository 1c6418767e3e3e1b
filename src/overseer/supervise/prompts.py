"""Prompt rendering: every prompt overseer sends is a Jinja2 template, and a user can replace any of them.

A template is looked up by name in three places, the first that has it wins:

1. the workspace's `.overseer/templates/` (this project's wording),
2. `templates/` in the user's config dir (`$XDG_CONFIG_HOME/overseer/templates/`, or the platform's),
3. the packaged `overseer/supervise/templates/`.

An override gets the same variables as the template it replaces (`overseer templates` lists them and
says which file is in force). Its mistakes are configuration errors that name the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    meta,
)

from overseer.config import user_config_file
from overseer.errors import ConfigError

Source = Literal["workspace", "user", "package"]
WORKSPACE_TEMPLATES = Path(".overseer") / "templates"


@dataclass(frozen=True)
class InForce:
    """One template name and the file that answers to it."""

    name: str
    source: Source
    path: Path
    shadows: tuple[Path, ...]  # the files further down the search that it replaces
    problem: str | None  # why it cannot render (a syntax error), None when it parses
    variables: tuple[str, ...]  # what overseer gives it: the packaged template's variables
    known: bool  # False: no packaged template has this name, so overseer never renders it (a typo?)


def user_templates() -> Path:
    return user_config_file().parent / "templates"


def search_path(workspace: Path | None) -> list[tuple[Source, Path]]:
    """Where templates are looked for, first match wins; the packaged folder last."""
    places: list[tuple[Source, Path]] = [("user", user_templates()), ("package", _packaged())]
    return [("workspace", workspace / WORKSPACE_TEMPLATES), *places] if workspace is not None else places


def render(template: str, workspace: Path | None = None, /, **context: Any) -> str:
    """Render `template` as the user set it up for `workspace` (see the module docstring); without
    a workspace, the user's overrides still apply. (`workspace` is positional: a template may take a
    variable of that name.)"""
    environment = _environment(tuple(path for _, path in search_path(workspace)))
    try:
        return environment.get_template(template).render(**context)
    except TemplateNotFound:
        raise  # overseer asked for a template it does not ship: a bug, not a configuration
    except TemplateError as exc:
        where = getattr(exc, "filename", None) or _file_of(environment, template)
        raise ConfigError(f"prompt template {template} cannot render: {exc}", path=where, hint=_FIX) from exc


def in_force(workspace: Path | None) -> list[InForce]:
    """Every template name found, each with the file that is used for it."""
    places = search_path(workspace)
    environment = _environment(tuple(path for _, path in places))
    found: dict[str, list[tuple[Source, Path]]] = {}
    for source, folder in places:
        if folder.is_dir():
            for name in FileSystemLoader(folder).list_templates():
                found.setdefault(name, []).append((source, folder / name))
    return [_describe(environment, name, files) for name, files in sorted(found.items())]


_FIX = f"fix or remove the override ({WORKSPACE_TEMPLATES}/ or the user config dir's templates/); `overseer templates`"


def _describe(environment: Environment, name: str, files: list[tuple[Source, Path]]) -> InForce:
    (source, path), *shadowed = files
    known = files[-1][0] == "package"
    given = _variables(environment, files[-1][1]) if known else ()
    problem = None
    try:
        used = _variables(environment, path)
    except (TemplateError, OSError, UnicodeDecodeError) as exc:
        problem = str(exc)
    else:
        unknown = sorted(set(used) - set(given)) if known else []
        if unknown:  # StrictUndefined would stop the render: say so before a run does
            problem = f"uses {', '.join(unknown)}, which overseer does not give this template"
    return InForce(name, source, path, tuple(p for _, p in shadowed), problem, given, known)


def _variables(environment: Environment, path: Path) -> tuple[str, ...]:
    parsed = environment.parse(path.read_text(encoding="utf-8"))
    return tuple(sorted(meta.find_undeclared_variables(parsed)))


def _file_of(environment: Environment, template: str) -> str:
    try:
        return environment.get_template(template).filename or template
    except TemplateError:
        return template


def _packaged() -> Path:
    return Path(__file__).parent / "templates"


@cache  # one environment per search path: Jinja2 caches compiled templates and reloads changed files
def _environment(folders: tuple[Path, ...]) -> Environment:
    return Environment(
        loader=ChoiceLoader([FileSystemLoader(folder) for folder in folders]),
        undefined=StrictUndefined,  # a missing variable is a bug (or an override's mistake), not an empty string
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # plain-text prompts, never HTML
    )
