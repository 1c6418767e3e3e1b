"""What a prompt carries besides its instructions, packed to fit the supervisor model's context.

A prompt is built from sections ranked by priority (lower first): the task and its acceptance
criteria, the findings of earlier attempts, the relevant files, the diff, the project's notes.
`pack` gives each section, in priority order, what is left of the token budget: a section larger
than that is cut to fit (with a marker saying how much), and once nothing is left the sections
still waiting are left out (a note names them). So lower-priority sections go before higher ones,
and the whole prompt, template and all, never exceeds the budget: `pack` counts the rendered text
with the supervisor model's own tokenizer (exact where it can be, an estimate otherwise) and packs
again, a little tighter, in the rare case where pieces counted apart count more together.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from itertools import islice
from pathlib import Path, PurePosixPath
from typing import Literal

from overseer.errors import SupervisorError
from overseer.llm.tokens import TokenCounter
from overseer.workspace.files import is_test_file, project_files

MAX_FILES = 60
CUT_MARKER = "[... {cut} of {total} characters cut to fit the supervisor's context]"
LEFT_OUT = "[left out to fit the supervisor's context: {names}]"
NOTE_FILES = ("README.md", "README.rst", "README.txt", "README", "CLAUDE.md", "AGENTS.md")
_MAX_CHARS_PER_TOKEN = 16  # more than any vocabulary's average: a longer text cannot fit, no need to count it
_SAMPLE_TOKENS = 4  # a cut's first guess comes from counting a sample this many characters a token long
_SHRINK = 0.85  # each try keeps this much of the last: a few tries reach any budget
_SCAN_FILES = 5000  # files looked at for the relevant ones: a huge tree costs a bounded walk
_READ_CHARS = 200_000  # of each relevant file or note: more than any budget keeps

Keep = Literal["head", "tail"]
Shorten = Callable[[str, int], str]  # (text, budget in tokens) -> a shorter text, e.g. a summary


class Priority(IntEnum):
    """The issue's ranking of what a prompt carries; a caller may rank its sections otherwise."""

    TASK = 0
    HISTORY = 1
    FILES = 2
    DIFF = 3
    NOTES = 4


@dataclass(frozen=True)
class Section:
    name: str  # how the template knows it, and how a left-out note names it
    text: str
    priority: int  # lower is kept first
    keep: Keep = "head"  # the end kept when it must be cut: the head of a diff, the tail of a history
    shorten: Shorten | None = field(default=None, compare=False)  # tried before a plain cut (a summary)


@dataclass(frozen=True)
class Packed:
    """What of each section fits; "" for a section left out or empty."""

    texts: Mapping[str, str]
    cut: tuple[str, ...] = ()  # sections shortened to fit
    left_out: tuple[str, ...] = ()  # sections with something to say and no room to say it

    def __getitem__(self, name: str) -> str:
        return self.texts[name]

    @property
    def note(self) -> str:
        return LEFT_OUT.format(names=", ".join(self.left_out)) if self.left_out else ""


@dataclass(frozen=True)
class Context:
    text: str
    packed: Packed
    tokens: int  # of `text`, by the counter it was packed with


Render = Callable[[Packed], str]


def pack(sections: Sequence[Section], budget: int, counter: TokenCounter, render: Render | None = None) -> Context:
    """The sections rendered within `budget` tokens by `counter`; by default each section's text in
    the order given, then the left-out note. Raises SupervisorError when the render's fixed part
    (its text with every section left out) alone exceeds the budget."""
    render = render or _joined([section.name for section in sections])
    everything_out = Packed({section.name: "" for section in sections}, (), tuple(s.name for s in sections))
    frame = counter.count(render(everything_out))  # the longest note there can be
    room = budget - frame
    while room >= 0:
        packed = _fill(sections, room, counter)
        text = render(packed)
        tokens = counter.count(text)
        if tokens <= budget:
            return Context(text, packed, tokens)
        room -= tokens - budget  # counted together, pieces can merge into more tokens than apart
    raise SupervisorError(
        "the prompt's fixed part leaves no room in the supervisor's context",
        budget=budget,
        needs=frame,
        hint="raise the supervisor's context size, or shorten the template",
    )


def fit(text: str, budget: int, counter: TokenCounter, keep: Keep = "head") -> str:
    """`text` within `budget` tokens, cut at the `keep` end's far side with a marker saying how much;
    "" when not even the marker fits."""
    if budget <= 0:
        return ""
    if len(text) <= budget * _MAX_CHARS_PER_TOKEN and counter.count(text) <= budget:
        return text
    sample = text[: budget * _SAMPLE_TOKENS] if keep == "head" else text[-budget * _SAMPLE_TOKENS :]
    chars = min(len(text) - 1, int(budget * len(sample) / max(counter.count(sample), 1)))
    while chars > 0:
        cut = _cut(text, chars, keep)
        if counter.count(cut) <= budget:
            return cut
        chars = int(chars * _SHRINK)
    return ""


def _cut(text: str, chars: int, keep: Keep) -> str:
    """`chars` characters of one end of `text`, on a whole line where there is one, and the marker."""
    if keep == "head":
        piece = text[:chars]
        piece = piece[: piece.rindex("\n") + 1] if "\n" in piece[:-1] else piece
        return piece + CUT_MARKER.format(cut=len(text) - len(piece), total=len(text))
    piece = text[-chars:]
    piece = piece[piece.index("\n") + 1 :] if "\n" in piece[:-1] else piece
    return CUT_MARKER.format(cut=len(text) - len(piece), total=len(text)) + "\n" + piece


def _fill(sections: Sequence[Section], room: int, counter: TokenCounter) -> Packed:
    texts: dict[str, str] = {section.name: "" for section in sections}
    cut: list[str] = []
    left_out: list[str] = []
    for section in sorted(sections, key=lambda section: section.priority):  # stable: ties keep their order
        if not section.text:
            continue
        fitted = _fit_section(section, room, counter)
        if not fitted:
            left_out.append(section.name)
            continue
        texts[section.name] = fitted
        room -= counter.count(fitted)
        if fitted != section.text:  # it took what was left: the sections after it are left out, not cut to a stub
            cut.append(section.name)
            room = 0
    return Packed(texts, tuple(cut), tuple(left_out))


def _fit_section(section: Section, room: int, counter: TokenCounter) -> str:
    if room <= 0:
        return ""
    whole = fit(section.text, room, counter, section.keep)
    if whole == section.text or section.shorten is None:
        return whole
    return fit(section.shorten(section.text, room), room, counter, section.keep) or whole  # fit it, whatever it says


def _joined(order: list[str]) -> Render:
    def render(packed: Packed) -> str:
        parts = [packed[name] for name in order if packed[name]]
        return "\n\n".join([*parts, packed.note] if packed.note else parts)

    return render


# --- what the sections hold ---------------------------------------------------------------------------


def workspace_files(workspace: Path, limit: int = MAX_FILES) -> list[str]:
    """A short list of the workspace's files, for the agent's first prompt."""
    found = list(islice(project_files(workspace), limit + 1))
    if len(found) > limit:
        return [*found[:limit], f"... and more (showing the first {limit})"]
    return found


def relevant_files(workspace: Path, task: str, changed: Sequence[str] = ()) -> list[str]:
    """The files named in the task, those changed, and the tests that cover them: test files whose
    name or imports mention one of those modules. Kept simple on purpose: a name match, no import graph."""
    files = list(islice(project_files(workspace), _SCAN_FILES)) if workspace.is_dir() else []
    named = [path for path in files if _named_in(path, task)]
    chosen = list(dict.fromkeys([*named, *(path for path in changed if path in files)]))
    modules = {PurePosixPath(path).stem for path in chosen if path.endswith(".py") and not is_test_file(path)}
    tests = [path for path in files if is_test_file(path) and path not in chosen and _covers(workspace, path, modules)]
    return [*chosen, *tests]


def files_text(workspace: Path, paths: Sequence[str]) -> str:
    """Each file under a heading line; unreadable ones are skipped."""
    blocks = [f"### {path}\n{text}" for path in paths if (text := _read(workspace / path))]
    return "\n".join(blocks)


def project_notes(workspace: Path) -> str:
    """The project's README and its notes for agents (CLAUDE.md, AGENTS.md)."""
    return files_text(workspace, [name for name in NOTE_FILES if (workspace / name).is_file()])


def _named_in(path: str, task: str) -> bool:
    """The task names the file by its path or its name, as a word of its own ("calc.py", not "mycalc.py")."""
    names = {path, PurePosixPath(path).name}
    return any(len(name) > 3 and re.search(rf"(?<![\w/.]){re.escape(name)}(?!\w)", task) for name in names)


def _covers(workspace: Path, test: str, modules: set[str]) -> bool:
    if not modules:
        return False
    if any(module in PurePosixPath(test).stem for module in modules):
        return True
    names = "|".join(re.escape(module) for module in sorted(modules))
    imports = re.compile(rf"^\s*(?:from|import)\s+(?:[\w.]*\.)?(?:{names})\b", re.MULTILINE)
    return imports.search(_read(workspace / test)) is not None


def _read(path: Path) -> str:
    try:
        with path.open(encoding="utf-8", errors="replace") as file:
            return file.read(_READ_CHARS)
    except OSError:
        return ""
