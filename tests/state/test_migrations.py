"""Alembic carries every schema change: a database made at the oldest revision and filled upgrades
to head with everything intact."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, text

from overseer.domain import Route
from overseer.redact import Redactor
from overseer.state.engine import _alembic_config
from overseer.state.models import utcnow
from overseer.state.store import Store

ROWS = """
INSERT INTO projects (id, workspace, created_at) VALUES (1, '/ws', '2025-01-01 00:00:00+00:00');
INSERT INTO tasks (id, project_id, text, priority, status, budget_start, created_at, updated_at)
  VALUES (1, 1, 'add mul', 0, 'needs_human', 1, '2025-01-01 00:00:00+00:00', '2025-01-01 00:00:00+00:00');
INSERT INTO tasks (id, project_id, text, priority, status, budget_start, created_at, updated_at)
  VALUES (2, 1, 'add div', 0, 'running', 1, '2025-01-01 00:00:00+00:00', '2025-01-01 00:00:00+00:00');
INSERT INTO attempts (id, task_id, number, status, prompt, checkpoint_before, result_text, error, started_at)
  VALUES (1, 1, 1, 'finished', 'do it', 'abc', 'done', '', '2025-01-01 00:00:00+00:00');
INSERT INTO findings (id, attempt_id, stage, code, severity, message)
  VALUES (1, 1, 'gates', 'tests_failed', 'blocking', '1 of 3 failed');
INSERT INTO decisions (id, attempt_id, decision, confidence, feedback, brief, at)
  VALUES (1, 1, 'escalate', 0.2, '', 'stopped', '2025-01-01 00:00:00+00:00');
"""


def test_a_database_at_the_oldest_revision_upgrades_to_head_with_everything_intact(
    store_url: str, db_path: Path
) -> None:
    url = store_url
    db_path.parent.mkdir(parents=True, exist_ok=True)  # SQLite's file goes there; unused on PostgreSQL
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0001")
        for statement in filter(str.strip, ROWS.split(";")):
            connection.execute(text(statement))
    engine.dispose()

    with Store.open(url, redactor=Redactor([])) as store:
        task, running = store.list_tasks(1)
        assert (task.text, task.status.value) == ("add mul", "needs_human")
        # A task an old overseer left running has no lease: the next runner may take it over at once.
        assert (running.lease_owner, running.lease_expires_at, running.pending_feedback) == (None, None, None)
        assert [t.id for t in store.running_tasks(1)] == [running.id]
        assert store.take_over(running, "recoverer", until=utcnow())
        [attempt] = store.attempts(1)
        [finding] = store.findings(attempt.id)
        assert (finding.code, finding.route) == ("tests_failed", Route.AGENT)  # the new column's default
        decision = store.decision(attempt.id)
        assert decision is not None and decision.brief == "stopped"
        assert store.verdict(attempt.id) is None
        resolution = store.add_resolution(1, "accept")
        assert resolution.attempt_id == attempt.id
