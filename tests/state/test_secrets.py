"""Secrets handed to the store never reach the database file, whichever field they travel in."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import MetaData, create_engine, make_url
from sqlalchemy.pool import NullPool

from overseer.domain import AttemptStatus, Decision, Finding, Outcome, Severity, TaskStatus, Verdict
from overseer.redact import REDACTED, Redactor
from overseer.state.store import Store

API_KEY = "sk-ant-api03-" + "x7" * 20  # caught by pattern, not by value


def stored_bytes(store_url: str, db_path: Path) -> bytes:
    """Everything the database holds. SQLite: the files on disk, write-ahead log included (recent
    writes live there). PostgreSQL: every row of every table, as the server returns them."""
    if make_url(store_url).get_backend_name() == "sqlite":
        files = [db_path, db_path.with_name(db_path.name + "-wal")]
        return b"".join(path.read_bytes() for path in files if path.exists())
    engine = create_engine(store_url, poolclass=NullPool)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            rows = [repr(row) for table in metadata.sorted_tables for row in connection.execute(table.select())]
    finally:
        engine.dispose()
    return "\n".join(rows).encode()


def write_secret_everywhere(store: Store, workspace: Path, leak: str) -> int:
    project = store.ensure_project(workspace)
    task = store.add_task(project.id, f"deploy with {leak}")
    store.set_guidance(task.id, f"the key is {leak}")
    store.set_task_status(task.id, TaskStatus.NEEDS_HUMAN, brief=f"is {leak} still valid?")
    attempt = store.start_attempt(task.id, number=1, prompt=f"use {leak}", checkpoint_before="c")
    store.add_event(attempt.id, "tool_result", {"output": f"API_KEY={leak}", "lines": [leak]})
    store.finish_attempt(
        attempt.id,
        status=AttemptStatus.FINISHED,
        session_id="s",
        result_text=f"set {leak}",
        error=f"failed with {leak}",
        cost_usd=None,
        checkpoint_after=None,
        changes=(),
        verdict=Verdict(findings=(Finding("review", "secret", Severity.WARNING, f"printed {leak}"),)),
        outcome=Outcome(Decision.ESCALATE, feedback=f"do not print {leak}", brief=f"rotate {leak}"),
    )
    return attempt.id


def test_secrets_are_absent_from_the_database(
    store: Store, secret: str, store_url: str, db_path: Path, tmp_path: Path
) -> None:
    write_secret_everywhere(store, tmp_path, secret)
    write_secret_everywhere(store, tmp_path, API_KEY)

    on_disk = stored_bytes(store_url, db_path)
    assert secret.encode() not in on_disk
    assert API_KEY.encode() not in on_disk
    assert REDACTED.encode() in on_disk  # the writes did happen


def test_unknown_secret_is_found_so_the_scan_above_means_something(
    store_url: str, db_path: Path, tmp_path: Path
) -> None:
    with Store.open(store_url, redactor=Redactor([])) as store:
        write_secret_everywhere(store, tmp_path, "not-known-to-the-redactor")
        assert b"not-known-to-the-redactor" in stored_bytes(store_url, db_path)


def test_redacted_values_are_what_the_store_returns(secret: str, store_url: str, tmp_path: Path) -> None:
    redactor = Redactor.from_environ({"DEPLOY_TOKEN": secret})
    with Store.open(store_url, redactor=redactor) as store:
        attempt_id = write_secret_everywhere(store, tmp_path, secret)
        [event] = store.events(attempt_id)
        [finding] = store.findings(attempt_id)
        decision = store.decision(attempt_id)

    assert event.data == {"output": f"API_KEY={REDACTED}", "lines": [REDACTED]}
    assert finding.message == f"printed {REDACTED}"
    assert decision is not None and decision.brief == f"rotate {REDACTED}"
