"""`overseer templates`: the prompt templates, and which file is in force for each."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.markup import escape
from rich.table import Table

from overseer.cli.common import JsonOption, WorkspaceOption, print_json, stdout
from overseer.errors import UsageError

if TYPE_CHECKING:
    from overseer.supervise.prompts import InForce

_SOURCE_STYLE = {"workspace": "cyan", "user": "magenta", "package": "dim"}


def templates(workspace: Path = WorkspaceOption, json_output: bool = JsonOption) -> None:
    """List the prompt templates and the file in force for each.

    Override any of them with a file of the same name in the workspace's .overseer/templates/ or in
    templates/ of the user config dir; the first found wins: workspace, user, packaged.
    """
    from overseer.supervise.prompts import in_force, search_path  # Jinja2: `overseer --help` must not pay for it

    path = workspace.expanduser().resolve()
    if not path.is_dir():
        raise UsageError("workspace does not exist", path=str(path), hint="pass --workspace DIR")
    found = in_force(path)
    if json_output:
        search = [
            {"source": source, "path": str(folder), "exists": folder.is_dir()} for source, folder in search_path(path)
        ]
        print_json({"templates": [_as_dict(template) for template in found], "search": search})
        return
    console = stdout()
    console.print(_table(found))
    for source, folder in search_path(path)[:-1]:
        console.print(f"[dim]{source} overrides: {escape(str(folder))}{'' if folder.is_dir() else ' (none)'}[/]")


def _table(found: list[InForce]) -> Table:
    table = Table("template", "in force", "note", box=box.SIMPLE, show_edge=False)
    for template in found:
        table.add_row(template.name, f"[{_SOURCE_STYLE[template.source]}]{template.source}[/]", _note(template))
    return table


def _note(template: InForce) -> str:
    if template.problem:
        return f"[red]broken: {escape(template.problem)}[/]"
    if not template.known:
        return "[yellow]unused: no packaged template has this name[/]"
    variables = f"variables: {', '.join(template.variables) or 'none'}"
    return f"replaces {len(template.shadows)} file(s); {variables}" if template.shadows else variables


def _as_dict(template: InForce) -> dict[str, Any]:
    return {
        "name": template.name,
        "source": template.source,
        "path": str(template.path),
        "shadows": [str(shadow) for shadow in template.shadows],
        "problem": template.problem,
        "variables": list(template.variables),
        "known": template.known,
    }
