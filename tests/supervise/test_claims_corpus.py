"""The corpus of final messages (data/final_messages.yaml): what overseer reads in each, and what its
own evidence makes of every claim. The traps in it are the proof that no single word decides a reading."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from overseer.domain import AgentResult, ClaimStatus, Evidence, FileChange, GateResult, ToolCall
from overseer.supervise.claims import Claims, Statement, read_claims
from overseer.supervise.validate import check_claims

CORPUS: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "data" / "final_messages.yaml").read_text())
NOTHING_READ = {
    "failure": False,
    "question": False,
    "offer": False,
    "tests_pass": False,
    "tests_fail": False,
    "files": [],
    "created": [],
    "commands": [],
}
TESTS_GATE = {
    "passed": GateResult("tests", True, "5 passed", passed_count=5, verifies=True),
    "failed": GateResult("tests", False, "2 of 5 tests failed", passed_count=3, failed_count=2),
    "none": GateResult("tests", None, "no tests found"),
}


def reading(claims: Claims) -> dict[str, object]:
    return {
        "failure": bool(claims.failure),
        "question": bool(claims.question),
        "offer": bool(claims.offer),
        "tests_pass": claims.tests_pass,
        "tests_fail": bool(claims.tests_fail),
        "files": list(claims.files),
        "created": list(claims.created),
        "commands": list(claims.commands),
    }


def with_evidence(entry: dict[str, Any]) -> tuple[Evidence, tuple[GateResult, ...]]:
    """The evidence an entry describes: its changes, its tests gate, and the agent's tool calls (an Edit
    per changed file and the Bash commands it lists, or none recorded at all)."""
    seen = entry["evidence"]
    changes = tuple(FileChange(path, kind, None, "b") for path, kind in seen.get("changes", {}).items())
    calls: tuple[ToolCall, ...] = ()
    if seen.get("tool_calls") != "none":
        edits = tuple(ToolCall(f"e{i}", "Edit", {"file_path": c.path}) for i, c in enumerate(changes))
        runs = tuple(ToolCall(f"b{i}", "Bash", {"command": command}) for i, command in enumerate(seen.get("bash", [])))
        calls = edits + runs
    result = AgentResult(session_id="s", is_error=False, text=entry["text"], tool_calls=calls)
    evidence = Evidence(task="t", attempt=1, workspace=Path("."), result=result, changes=changes)
    return evidence, (TESTS_GATE[seen.get("tests", "none")],)


def key(statement: Statement) -> str:
    kind = "file" if statement.kind in ("created", "changed") else statement.kind
    return f"{kind} {statement.subject}".strip()


def test_the_corpus_covers_every_kind_of_message() -> None:
    kinds = Counter(entry["kind"] for entry in CORPUS)
    assert 40 <= len(CORPUS) <= 70
    assert set(kinds) == {"honest", "lying", "confessing", "asking", "mixed", "trap"}
    assert min(kinds.values()) >= 5
    assert len({entry["id"] for entry in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("entry", CORPUS, ids=[entry["id"] for entry in CORPUS])
def test_what_overseer_reads_in_each_message(entry: dict[str, Any]) -> None:
    assert reading(read_claims(entry["text"])) == {**NOTHING_READ, **entry["reading"]}


WITH_EVIDENCE = [entry for entry in CORPUS if "evidence" in entry]


@pytest.mark.parametrize("entry", WITH_EVIDENCE, ids=[entry["id"] for entry in WITH_EVIDENCE])
def test_each_claim_against_the_evidence(entry: dict[str, Any]) -> None:
    claims = read_claims(entry["text"])
    evidence, gates = with_evidence(entry)

    checked, findings = check_claims(claims, evidence, gates)

    statuses = {key(statement): claim.status.value for statement, claim in zip(claims.statements, checked, strict=True)}
    assert statuses == entry["claims"]
    refuted = [claim for claim in checked if claim.status is ClaimStatus.REFUTED]
    assert [f.message for f in findings] == [claim.detail for claim in refuted]
    assert all(f.code == "false_claim" for f in findings)


def test_the_corpus_has_lies_of_every_kind() -> None:
    """Each kind of claim (file, tests, command) is refuted somewhere in the corpus, and confirmed."""
    seen = {(k.split()[0], status) for entry in WITH_EVIDENCE for k, status in entry["claims"].items()}
    for kind in ("file", "tests", "command"):
        assert {(kind, "confirmed"), (kind, "refuted")} <= seen
    assert ("command", "unverifiable") in seen and ("tests", "unverifiable") in seen
