"""Scope findings on real attempts (real files, real shadow-git snapshots), and bad input: a binary file
and a 50 MB diff through scope, the examples gate and the lint gate."""

from __future__ import annotations

import time
from pathlib import Path

from overseer.config import GatesConfig
from overseer.domain import AgentResult, Evidence, FileChange, Finding, Route, Severity
from overseer.supervise.gates.base import GateContext
from overseer.supervise.gates.examples import examples_gate
from overseer.supervise.gates.lint import lint_gate
from overseer.supervise.scope import FileStat, Named, parse_diff_stats, parse_numstat, scope_findings
from overseer.workspace.checkpoints import Checkpoints
from overseer.workspace.scratch import Scratch
from tests.supervise.attempts import Files
from tests.supervise.attempts import attempt as make_attempt

CALC = "def mul(a, b):\n    return a + b\n"
FIXED = "def mul(a, b):\n    return a * b\n"
TASK = "Fix mul in calc.py: it must multiply."


def attempt(root: Path, before: Files, after: Files, task: str = TASK) -> Evidence:
    return make_attempt(root, before, after, task)


def codes(findings: tuple[Finding, ...]) -> dict[str, str]:
    return {f.code: f.message for f in findings}


# --- deletions and renames -------------------------------------------------------------------------


def test_a_right_fix_plus_an_unrequested_deletion_stops_for_a_human(tmp_path: Path) -> None:
    evidence = attempt(tmp_path / "ws", {"calc.py": CALC, "NOTES.md": "notes\n"}, {"calc.py": FIXED, "NOTES.md": None})

    (deleted,) = scope_findings(evidence)

    assert (deleted.stage, deleted.code, deleted.severity, deleted.route) == (
        "scope",
        "unrequested_deletion",
        Severity.BLOCKING,
        Route.HUMAN,
    )
    assert deleted.message == "The attempt deleted files the task did not name: NOTES.md."


def test_a_deletion_the_task_asks_for_is_no_finding(tmp_path: Path) -> None:
    before = {"NOTES.md": "n\n", "legacy/a.py": "a = 1\n", "legacy/b.py": "b = 1\n", "keep/c.py": "c = 1\n"}
    after: Files = {"NOTES.md": None, "legacy/a.py": None, "legacy/b.py": None, "keep/c.py": None}
    evidence = attempt(tmp_path / "ws", before, after, "Remove ./notes.md and everything in legacy/, it is dead.")

    assert codes(scope_findings(evidence)) == {
        "unrequested_deletion": "The attempt deleted files the task did not name: keep/c.py."
    }


def test_a_rename_is_found_even_with_an_edit_and_is_not_also_a_deletion(tmp_path: Path) -> None:
    body = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(20))
    before = {"helpers.py": body}
    after: Files = {"helpers.py": None, "utils.py": body.replace("x + 3", "x + 33")}

    unnamed = scope_findings(attempt(tmp_path / "a", before, after))
    named = scope_findings(attempt(tmp_path / "b", before, after, "Rename helpers.py to utils.py"))

    assert codes(unnamed) == {
        "unrequested_rename": "The attempt renamed files the task did not name: helpers.py -> utils.py."
    }
    assert unnamed[0].severity is Severity.BLOCKING and unnamed[0].route is Route.HUMAN
    assert named == ()


def test_without_snapshots_renames_and_deletions_come_from_the_changes_and_the_diff() -> None:
    changes = (
        FileChange("NOTES.md", "deleted", "a" * 40, None),
        FileChange("old.py", "deleted", "b" * 40, None),
        FileChange("new.py", "added", None, "b" * 40),
        FileChange("logo.png", "added", None, "c" * 40),
    )
    diff = (
        "diff --git a/logo.png b/logo.png\nnew file mode 100644\nindex 0000000..ccc\n"
        "Binary files /dev/null and b/logo.png differ\n"
    )
    evidence = Evidence(TASK, 1, Path("/nowhere"), AgentResult(None, False, ""), changes, diff)

    assert codes(scope_findings(evidence)) == {
        "unrequested_deletion": "The attempt deleted files the task did not name: NOTES.md.",
        "unrequested_rename": "The attempt renamed files the task did not name: old.py -> new.py.",
        "binary_changed": "The attempt changed binary files no gate can read: logo.png.",
    }


def test_what_the_task_names() -> None:
    named = Named("Fix data.py and update `docs/NOTES.md`. Then drop ./old.txt and src/gen/.")
    assert named("data.py") and named("lib/data.py")  # the file name alone names it
    assert named("docs/NOTES.md") and named("docs/notes.md") and named("old.txt")
    assert named("src/gen/table.py")  # a directory, written with its slash
    assert not named("a.py")  # inside "data.py", not a word of its own
    assert not named("src/other.py") and not named("gen.py")


# --- sensitive files -----------------------------------------------------------------------------


def test_ci_dependency_and_secret_files_are_flagged_unless_the_task_names_them(tmp_path: Path) -> None:
    before = {"calc.py": CALC, "requirements-dev.txt": "pytest\n", ".env.example": "KEY=\n"}
    after = {
        "calc.py": FIXED,
        ".github/workflows/ci.yml": "on: push\n",
        "uv.lock": "version = 1\n",
        "requirements-dev.txt": "pytest\nhypothesis\n",
        ".env": "KEY=secret\n",
        "deploy/id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\n",
        "deploy/id_rsa.pub": "ssh-ed25519 AAAA\n",
        ".env.example": "KEY=\nOTHER=\n",
    }

    findings = scope_findings(attempt(tmp_path / "a", before, after))
    asked = scope_findings(attempt(tmp_path / "b", before, after, TASK + " Also touch ci.yml, uv.lock and .env."))

    assert codes(findings) == {
        "ci_changed": "The attempt changed CI configuration: .github/workflows/ci.yml.",
        "dependencies_changed": "The attempt changed dependencies: requirements-dev.txt, uv.lock.",
        "secret_file_changed": "The attempt changed files that look like secrets: .env, deploy/id_rsa.",
    }
    assert [(f.severity, f.route) for f in findings] == [
        (Severity.WARNING, Route.HUMAN),
        (Severity.WARNING, Route.HUMAN),
        (Severity.BLOCKING, Route.HUMAN),
    ]
    assert codes(asked) == {
        "dependencies_changed": "The attempt changed dependencies: requirements-dev.txt.",
        "secret_file_changed": "The attempt changed files that look like secrets: deploy/id_rsa.",
    }


def test_pyproject_counts_as_a_dependency_change_only_when_its_dependencies_change(tmp_path: Path) -> None:
    pyproject = '[project]\nname = "calc"\ndependencies = ["attrs"]\n\n[tool.ruff]\nline-length = 100\n'
    tooling = pyproject.replace("100", "120")
    deps = pyproject.replace('["attrs"]', '["attrs", "requests"]')

    assert scope_findings(attempt(tmp_path / "a", {"pyproject.toml": pyproject}, {"pyproject.toml": tooling})) == ()
    assert codes(scope_findings(attempt(tmp_path / "b", {"pyproject.toml": pyproject}, {"pyproject.toml": deps}))) == {
        "dependencies_changed": "The attempt changed dependencies: pyproject.toml."
    }


# --- size and binaries -----------------------------------------------------------------------------------


def test_a_diff_far_larger_than_the_task_is_flagged(tmp_path: Path) -> None:
    big = "".join(f"X{i} = {i}\n" for i in range(500))
    after = {"calc.py": FIXED, "table.py": big, "uv.lock": "pkg\n" * 5000}  # lock files are generated: not counted

    short = scope_findings(attempt(tmp_path / "a", {"calc.py": CALC}, after, "Fix mul."))
    long_task = " ".join(["word"] * 20)  # 20 words allow 800 lines
    long = scope_findings(attempt(tmp_path / "b", {"calc.py": CALC}, after, long_task))
    capped = scope_findings(attempt(tmp_path / "c", {"calc.py": CALC}, after, long_task), max_diff_lines=100)

    assert codes(short)["diff_too_large"] == (
        "The attempt added or removed 502 lines in 2 files; a task of 2 words allows 400. "
        "Largest: table.py (500), calc.py (2)."
    )
    assert short[-1].severity is Severity.WARNING and short[-1].route is Route.HUMAN
    assert "diff_too_large" not in codes(long)
    assert "the configured maximum allows 100" in codes(capped)["diff_too_large"]


def test_binary_files_are_noted_and_tool_caches_are_ignored(tmp_path: Path) -> None:
    before: Files = {
        "calc.py": CALC,
        "__pycache__/calc.cpython-311.pyc": b"\x00\x01pyc",
        "logo.png": b"\x89PNG\x00\x01",
    }
    after: Files = {"calc.py": FIXED, "__pycache__/calc.cpython-311.pyc": None, "logo.png": b"\x89PNG\x00\x02"}

    (binary,) = scope_findings(attempt(tmp_path / "ws", before, after))

    assert (binary.code, binary.severity, binary.route) == ("binary_changed", Severity.INFO, Route.NOBODY)
    assert binary.message == "The attempt changed binary files no gate can read: logo.png."


# --- reading git's output (pure) -----------------------------------------------------------------------


def test_numstat_with_renames_and_binaries_is_read() -> None:
    raw = "3\t1\tcalc.py\0-\t-\tlogo.png\x002\t0\t\0old name.py\0new name.py\0"
    assert parse_numstat(raw) == (
        FileStat("calc.py", 3, 1),
        FileStat("logo.png", None, None),
        FileStat("new name.py", 2, 0, renamed_from="old name.py"),
    )


def test_a_diffs_text_is_counted_without_mistaking_content_for_headers() -> None:
    diff = (
        "diff --git a/a b.py b/a b.py\nindex 1..2 100644\n--- a/a b.py\n+++ b/a b.py\n@@ -1,2 +1,2 @@\n"
        " keep\n-old\n+new\n+++ looks like a header\n"
        "diff --git a/gone.txt b/gone.txt\ndeleted file mode 100644\n--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"
    )
    assert parse_diff_stats(diff) == (FileStat("a b.py", 2, 1), FileStat("gone.txt", 0, 1))


# --- bad input ----------------------------------------------------------------------------------------


def test_a_50_mb_diff_with_a_binary_file_neither_crashes_nor_hangs_scope_examples_or_lint(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "gen").mkdir(parents=True)
    (ws / "pyproject.toml").write_text('[tool.ruff.lint]\nselect = ["F"]\n')
    (ws / "calc.py").write_text(CALC)
    checkpoints = Checkpoints(ws)
    before = checkpoints.snapshot("before")
    chunk = "".join(f"VALUE_{i:06d} = {i}  # a generated table, long enough to weigh\n" for i in range(20_000))
    with (ws / "gen" / "table.py").open("w") as table:
        while table.tell() < 50_000_000:
            table.write(chunk)
    (ws / "gen" / "blob.bin").write_bytes(bytes(range(256)) * 4096)
    (ws / "calc.py").write_text('def mul(a, b):\n    """\n    >>> mul(4, 5)\n    20\n    """\n    return a * b\n')
    after = checkpoints.snapshot("after")
    evidence = Evidence(
        TASK, 1, ws, AgentResult(None, False, ""), checkpoints.changes(before, after), "", "", before, after
    )

    started = time.monotonic()
    scope = codes(scope_findings(evidence))
    with Scratch(checkpoints) as scratch:
        examples, _ = examples_gate(GateContext(evidence, GatesConfig(), scratch))
        lint, _ = lint_gate(GateContext(evidence, GatesConfig(), scratch))
    seconds = time.monotonic() - started

    assert scope.keys() == {"diff_too_large", "binary_changed"}
    assert scope["binary_changed"] == "The attempt changed binary files no gate can read: gen/blob.bin."
    assert "Largest: gen/table.py (" in scope["diff_too_large"]
    assert (examples.passed, examples.passed_count) == (True, 1)  # the huge file is passed over, calc.py is not
    assert lint.passed is True and lint.details["linters"] == ["ruff"]
    assert seconds < 30, f"took {seconds:.1f}s"  # about 2s here; a hang would take the gates' timeouts (60s, 120s)
