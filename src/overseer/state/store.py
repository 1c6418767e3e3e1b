"""The store: the one place that reads and writes overseer's state database.

Every public method is one short transaction, so a crash loses at most the step in progress
and another overseer process is never kept waiting long. Rows come back detached but fully
loaded (`expire_on_commit=False`, no relationships), so callers use them freely afterwards.
Every string a person or an agent wrote passes through the redactor on its way in: secrets
must never reach the database file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, Update, func, insert, select, update
from sqlalchemy.orm import QueryableAttribute, Session, sessionmaker

from overseer.domain import AttemptStatus, Decision, FileChange, GateResult, Outcome, TaskStatus, Verdict
from overseer.errors import StoreError, UsageError
from overseer.redact import Redactor
from overseer.state.engine import WRITE_OPTIONS, connect, location, translate_errors, upgrade_if_needed
from overseer.state.engine import sqlite_url as sqlite_url
from overseer.state.models import (
    Attempt,
    BreakpointRow,
    DecisionRow,
    Event,
    FileChangeRow,
    FindingRow,
    Project,
    Resolution,
    Task,
    TaskDependency,
    VerdictRow,
    utcnow,
)
from overseer.text import clip_tail

INTERRUPTED_NOTE = "overseer stopped before the attempt finished"
_STORED_GATE_OUTPUT = 4000  # characters of a gate's output kept in the verdict row
_SETTLED = frozenset({TaskStatus.COMPLETED, TaskStatus.NEEDS_HUMAN, TaskStatus.FAILED})


@dataclass(frozen=True)
class NewEvent:
    """An event to append to an attempt's log; `at` is when it happened, not when it was written."""

    attempt_id: int
    kind: str
    data: dict[str, Any]
    at: datetime = field(default_factory=utcnow)


class Store:
    def __init__(self, engine: Engine, *, redactor: Redactor, where: str) -> None:
        self._engine = engine
        self._redactor = redactor
        self._where = where
        self._reads = sessionmaker(engine, expire_on_commit=False)
        self._writes = sessionmaker(engine.execution_options(**WRITE_OPTIONS), expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, redactor: Redactor, busy_timeout: float = 5.0) -> Store:
        """Connect, and migrate the schema to the newest revision if it is not there yet."""
        where = location(url)
        with translate_errors(where):
            engine = connect(url, busy_timeout=busy_timeout)
        try:
            with translate_errors(where):
                upgrade_if_needed(engine, where)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, redactor=redactor, where=where)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # Projects and tasks

    def ensure_project(self, workspace: Path) -> Project:
        path = str(workspace.resolve())
        with self.writing() as session:
            project = session.scalar(select(Project).where(Project.workspace == path))
            if project is None:
                project = Project(workspace=path)
                session.add(project)
                session.flush()
            return project

    def add_task(
        self,
        project_id: int,
        text: str,
        *,
        priority: int = 0,
        depends_on: Sequence[int] = (),
        tags: Sequence[str] = (),
    ) -> Task:
        try:
            with self.writing() as session:
                _check_dependencies(session, project_id, depends_on)
                task = Task(project_id=project_id, text=self._redact(text), priority=priority, tags=sorted(set(tags)))
                session.add(task)
                session.flush()  # assigns task.id for the dependency rows
                session.add_all(TaskDependency(task_id=task.id, depends_on_id=dep) for dep in set(depends_on))
                return task
        except StoreError:
            self._require(Project, project_id, "project")  # an unknown id says so, not "constraint failed"
            raise

    def get_task(self, task_id: int) -> Task:
        with self.reading() as session:
            return _task(session, task_id)

    def list_tasks(self, project_id: int) -> list[Task]:
        with self.reading() as session:
            return list(session.scalars(select(Task).where(Task.project_id == project_id).order_by(Task.id)))

    def dependencies(self, project_id: int) -> dict[int, set[int]]:
        """Task id -> the ids it depends on; every task of the project is a key, even with no dependencies."""
        with self.reading() as session:
            graph: dict[int, set[int]] = {
                task_id: set() for task_id in session.scalars(select(Task.id).where(Task.project_id == project_id))
            }
            edges = session.execute(
                select(TaskDependency.task_id, TaskDependency.depends_on_id)
                .join(Task, Task.id == TaskDependency.task_id)
                .where(Task.project_id == project_id)
            )
            for task_id, depends_on_id in edges:
                graph[task_id].add(depends_on_id)
            return graph

    def set_task_status(self, task_id: int, status: TaskStatus, *, brief: str | None = None) -> None:
        """Move a task; `brief` says why a human is needed and is replaced each time (None clears it)."""
        with self.writing() as session:
            task = _task(session, task_id)
            task.status = status
            task.brief = self._redact_optional(brief)

    def set_task_session(self, task_id: int, session_id: str | None) -> None:
        with self.writing() as session:
            _task(session, task_id).session_id = session_id

    def set_guidance(self, task_id: int, guidance: str | None) -> None:
        with self.writing() as session:
            _task(session, task_id).guidance = self._redact_optional(guidance)

    def reset_budget(self, task_id: int) -> None:
        """Count max_attempts afresh from the next attempt (a human said: try again)."""
        with self.writing() as session:
            task = _task(session, task_id)
            last = session.scalar(select(func.max(Attempt.number)).where(Attempt.task_id == task_id))
            task.budget_start = (last or 0) + 1

    # Attempts

    def start_attempt(self, task_id: int, *, number: int, prompt: str, checkpoint_before: str) -> Attempt:
        """Record an attempt as running; committed on return, before the agent is started."""
        try:
            with self.writing() as session:
                attempt = Attempt(
                    task_id=task_id,
                    number=number,
                    status=AttemptStatus.RUNNING,
                    prompt=self._redact(prompt),
                    checkpoint_before=checkpoint_before,
                )
                session.add(attempt)
                session.flush()
                return attempt
        except StoreError:
            self._require(Task, task_id, "task")
            raise

    def add_event(self, attempt_id: int, kind: str, data: dict[str, Any]) -> None:
        self.add_events([NewEvent(attempt_id, kind, data)])

    def add_events(self, events: Sequence[NewEvent]) -> None:
        """Append a batch of events in one transaction, each attempt's numbered on from its last."""
        if not events:
            return
        try:
            with self.writing() as session:
                next_seq: dict[int, int] = {}
                rows = []
                for event in events:
                    if event.attempt_id not in next_seq:
                        last = session.scalar(select(func.max(Event.seq)).where(Event.attempt_id == event.attempt_id))
                        next_seq[event.attempt_id] = (last or 0) + 1
                    seq = next_seq[event.attempt_id]
                    next_seq[event.attempt_id] = seq + 1
                    data = self._redactor.redact_data(event.data)
                    rows.append(
                        {"attempt_id": event.attempt_id, "seq": seq, "kind": event.kind, "data": data, "at": event.at}
                    )
                # A Core insert: events are only ever appended, and the ORM's unit of work was half the cost.
                session.execute(insert(Event), rows)
        except StoreError:
            for attempt_id in {event.attempt_id for event in events}:
                self._require(Attempt, attempt_id, "attempt")
            raise

    def finish_attempt(
        self,
        attempt_id: int,
        *,
        status: AttemptStatus,
        session_id: str | None,
        result_text: str,
        error: str,
        cost_usd: float | None,
        checkpoint_after: str | None,
        changes: Sequence[FileChange],
        verdict: Verdict | None,
        outcome: Outcome | None,
    ) -> None:
        """Record how an attempt ended and what was made of it, all in one transaction.

        A retry's feedback is kept on the task until an attempt carrying it is judged. An attempt
        that is no longer running was closed by another runner's recovery: nothing is overwritten.
        """
        with self.writing() as session:
            attempt = _attempt(session, attempt_id)
            if attempt.status is not AttemptStatus.RUNNING:
                raise StoreError(
                    f"attempt {attempt_id} was already closed ({attempt.status})",
                    hint="another overseer recovered it after this one's lease expired",
                )
            if outcome is not None:
                task = _task(session, attempt.task_id)
                task.pending_feedback = self._redact(outcome.feedback) if outcome.decision is Decision.RETRY else None
            attempt.status = status
            attempt.session_id = session_id
            attempt.result_text = self._redact(result_text)
            attempt.error = self._redact(error)
            attempt.cost_usd = cost_usd
            attempt.checkpoint_after = checkpoint_after
            attempt.finished_at = utcnow()
            session.add_all(_change_row(attempt_id, change) for change in changes)
            if verdict is not None:
                session.add_all(self._finding_rows(attempt_id, verdict))
                session.add(self._verdict_row(attempt_id, verdict))
            if outcome is not None:
                session.add(self._decision_row(attempt_id, verdict, outcome))

    def attempts(self, task_id: int) -> list[Attempt]:
        with self.reading() as session:
            query = select(Attempt).where(Attempt.task_id == task_id).order_by(Attempt.number)
            return list(session.scalars(query))

    def events(self, attempt_id: int) -> list[Event]:
        with self.reading() as session:
            return list(session.scalars(select(Event).where(Event.attempt_id == attempt_id).order_by(Event.seq)))

    def first_event(self, attempt_id: int, kind: str) -> Event | None:
        with self.reading() as session:
            query = select(Event).where(Event.attempt_id == attempt_id, Event.kind == kind).order_by(Event.seq)
            return session.scalars(query.limit(1)).first()

    def file_changes(self, attempt_id: int) -> list[FileChangeRow]:
        with self.reading() as session:
            query = select(FileChangeRow).where(FileChangeRow.attempt_id == attempt_id).order_by(FileChangeRow.id)
            return list(session.scalars(query))

    def findings(self, attempt_id: int) -> list[FindingRow]:
        with self.reading() as session:
            query = select(FindingRow).where(FindingRow.attempt_id == attempt_id).order_by(FindingRow.id)
            return list(session.scalars(query))

    def verdict(self, attempt_id: int) -> VerdictRow | None:
        with self.reading() as session:
            return session.scalar(select(VerdictRow).where(VerdictRow.attempt_id == attempt_id))

    def verdict_features(self, attempt_id: int) -> dict[str, Any] | None:
        """The features the attempt's confidence was computed from (None: it was never judged)."""
        row = self.verdict(attempt_id)
        return None if row is None else dict(row.features)

    def last_signature(self, task_id: int, *, since_number: int) -> dict[str, str] | None:
        """The failure signature of the task's latest judged attempt numbered `since_number` or later."""
        with self.reading() as session:
            signature = session.scalar(
                select(VerdictRow.signature)
                .join(Attempt, Attempt.id == VerdictRow.attempt_id)
                .where(Attempt.task_id == task_id, Attempt.number >= since_number)
                .order_by(Attempt.number.desc())
                .limit(1)
            )
            return None if signature is None else {str(k): str(v) for k, v in signature.items()}

    def add_resolution(self, task_id: int, action: str, guidance: str = "", *, by: str = "") -> Resolution:
        """Record a human's answer to a waiting task, against the task's latest attempt; it answers the
        task's open breakpoints too."""
        with self.writing() as session:
            _task(session, task_id)
            last = session.scalar(select(func.max(Attempt.id)).where(Attempt.task_id == task_id))
            row = Resolution(task_id=task_id, attempt_id=last, action=action, guidance=self._redact(guidance), by=by)
            session.add(row)
            session.flush()
            for point in session.scalars(_open_breakpoints(task_id)):
                point.resolution_id = row.id
            return row

    def open_breakpoint(
        self, task_id: int, attempt_id: int | None, *, rule: str, kind: str, reason: str, detail: dict[str, Any]
    ) -> BreakpointRow:
        with self.writing() as session:
            _task(session, task_id)
            row = BreakpointRow(
                task_id=task_id,
                attempt_id=attempt_id,
                rule=rule,
                kind=kind,
                reason=self._redact(reason),
                detail=self._redactor.redact_data(detail),
            )
            session.add(row)
            session.flush()
            return row

    def breakpoints(self, project_id: int) -> list[tuple[BreakpointRow, Resolution | None]]:
        """Every breakpoint of the project, oldest first, with the answer it got (None: still open)."""
        with self.reading() as session:
            query = (
                select(BreakpointRow, Resolution)
                .join(Task, Task.id == BreakpointRow.task_id)
                .outerjoin(Resolution, Resolution.id == BreakpointRow.resolution_id)
                .where(Task.project_id == project_id)
                .order_by(BreakpointRow.id)
            )
            return [(point, answer) for point, answer in session.execute(query)]

    def open_breakpoint_of(self, task_id: int) -> BreakpointRow | None:
        """The task's latest unanswered breakpoint."""
        with self.reading() as session:
            return session.scalar(_open_breakpoints(task_id).order_by(BreakpointRow.id.desc()).limit(1))

    def resolutions(self, project_id: int) -> list[Resolution]:
        with self.reading() as session:
            query = (
                select(Resolution)
                .join(Task, Task.id == Resolution.task_id)
                .where(Task.project_id == project_id)
                .order_by(Resolution.id)
            )
            return list(session.scalars(query))

    def decision(self, attempt_id: int) -> DecisionRow | None:
        with self.reading() as session:
            return session.scalar(select(DecisionRow).where(DecisionRow.attempt_id == attempt_id))

    # Claims: each task is worked on by the one runner that holds its lease

    def claim_task(self, task_id: int, owner: str, *, until: datetime) -> bool:
        """Claim a pending task for `owner` until `until`; False when another runner claimed it first.

        One conditional UPDATE, so exactly one of two racing runners sees its row change: SQLite
        serialises writers, and PostgreSQL re-checks the WHERE clause of the second one after the
        first commits.
        """
        claim = update(Task).where(Task.id == task_id, Task.status == TaskStatus.PENDING)
        return self._changed(claim.values(status=TaskStatus.RUNNING, lease_owner=owner, lease_expires_at=until))

    def renew_lease(self, task_id: int, owner: str, *, until: datetime) -> bool:
        """Move the expiry on; False when `owner` no longer holds the task."""
        renew = update(Task).where(Task.id == task_id, Task.lease_owner == owner)
        return self._changed(renew.values(lease_expires_at=until))

    def take_over(self, task: Task, owner: str, *, until: datetime) -> bool:
        """Claim a running task whose runner is gone, if its lease is still as `task` shows it.

        Compare and set: a runner that renewed its lease in between, or a second recoverer that
        got there first, makes this return False.
        """
        take = update(Task).where(
            Task.id == task.id,
            Task.status == TaskStatus.RUNNING,
            _same(Task.lease_owner, task.lease_owner),
            _same(Task.lease_expires_at, task.lease_expires_at),
        )
        return self._changed(take.values(lease_owner=owner, lease_expires_at=until))

    def release_task(
        self, task_id: int, owner: str, status: TaskStatus = TaskStatus.PENDING, *, brief: str | None = None
    ) -> None:
        """Give a claimed task up: back to pending (to run again), or settled (its guidance and
        pending feedback used up); raise StoreError when `owner` no longer holds it."""
        values: dict[str, Any] = {"status": status, "brief": self._redact_optional(brief)}
        if status in _SETTLED:
            values.update(guidance=None, pending_feedback=None)
        release = update(Task).where(Task.id == task_id, Task.lease_owner == owner)
        if not self._changed(release.values(lease_owner=None, lease_expires_at=None, **values)):
            raise StoreError(
                f"task {task_id} is no longer claimed by this overseer",
                hint="its lease expired and another overseer took it over; see `overseer task list`",
            )

    def running_tasks(self, project_id: int) -> list[Task]:
        """The project's claimed tasks, with their leases, for recovery to judge."""
        with self.reading() as session:
            query = select(Task).where(Task.project_id == project_id, Task.status == TaskStatus.RUNNING)
            return list(session.scalars(query.order_by(Task.id)))

    # Helpers

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """One read-only transaction, errors translated; for the read-only query modules of `state/`."""
        with translate_errors(self._where), self._reads.begin() as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """One writing transaction, committed on exit; errors (a failed COMMIT too) translated."""
        # translate_errors is outermost so that a failed COMMIT is translated too.
        with translate_errors(self._where), self._writes.begin() as session:
            yield session

    def _require(self, model: type[Project] | type[Task] | type[Attempt], row_id: int, what: str) -> None:
        """Raise UsageError if the row is not there. Writes leave this check to the foreign keys (a
        read before every insert cost 40% of it) and ask only after one failed, to say why."""
        with self.reading() as session:
            if session.get(model, row_id) is None:
                hint = "see `overseer task list`" if what == "task" else ""
                raise UsageError(f"unknown {what} id {row_id}", hint=hint)

    def _changed(self, statement: Update) -> bool:
        """Run a conditional UPDATE of one row; whether it matched."""
        with self.writing() as session:
            # A Connection's execute gives the DBAPI rowcount (the ORM Session's result type hides it).
            result = session.connection().execute(statement)  # tasks.updated_at moves by its onupdate
            return result.rowcount == 1

    def _redact(self, text: str) -> str:
        return self._redactor.redact(text)

    def _redact_optional(self, text: str | None) -> str | None:
        return None if text is None else self._redactor.redact(text)

    def _finding_rows(self, attempt_id: int, verdict: Verdict) -> Iterator[FindingRow]:
        for finding in verdict.findings:
            yield FindingRow(
                attempt_id=attempt_id,
                stage=finding.stage,
                code=finding.code,
                severity=finding.severity,
                message=self._redact(finding.message),
                route=finding.route,
            )

    def _verdict_row(self, attempt_id: int, verdict: Verdict) -> VerdictRow:
        return VerdictRow(
            attempt_id=attempt_id,
            verified=verdict.verified,
            confidence=verdict.confidence,
            claims=[self._redactor.redact_data(asdict(claim)) for claim in verdict.claims],
            gates=[self._redactor.redact_data(_gate(gate)) for gate in verdict.gates],
            review=None if verdict.review is None else self._redactor.redact_data(asdict(verdict.review)),
            features=dict(verdict.features),
            signature=dict(verdict.signature),
            durations=dict(verdict.durations),
        )

    def _decision_row(self, attempt_id: int, verdict: Verdict | None, outcome: Outcome) -> DecisionRow:
        return DecisionRow(
            attempt_id=attempt_id,
            decision=outcome.decision,
            confidence=None if verdict is None else verdict.confidence,
            feedback=self._redact(outcome.feedback),
            brief=self._redact(outcome.brief),
        )


def _same(column: QueryableAttribute[Any], value: object) -> ColumnElement[bool]:
    """`column` equals `value`, where None matches NULL."""
    return column.is_(None) if value is None else column == value


def _task(session: Session, task_id: int) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise UsageError(f"unknown task id {task_id}", hint="see `overseer task list`")
    return task


def _attempt(session: Session, attempt_id: int) -> Attempt:
    attempt = session.get(Attempt, attempt_id)
    if attempt is None:
        raise UsageError(f"unknown attempt id {attempt_id}")
    return attempt


def _check_dependencies(session: Session, project_id: int, depends_on: Sequence[int]) -> None:
    wanted = set(depends_on)
    if not wanted:
        return
    found = set(session.scalars(select(Task.id).where(Task.project_id == project_id, Task.id.in_(wanted))))
    if missing := sorted(wanted - found):
        names = ", ".join(map(str, missing))
        raise UsageError(f"unknown dependency task id {names}", hint="see `overseer task list`")


def _gate(gate: GateResult) -> dict[str, Any]:
    """A gate as stored: its output is clipped (the findings carry what matters), details kept."""
    row = asdict(gate)
    row["output"] = clip_tail(gate.output, _STORED_GATE_OUTPUT)
    return row


def _change_row(attempt_id: int, change: FileChange) -> FileChangeRow:
    return FileChangeRow(
        attempt_id=attempt_id,
        path=change.path,
        kind=change.kind,
        sha_before=change.sha_before,
        sha_after=change.sha_after,
    )


def _open_breakpoints(task_id: int) -> Select[BreakpointRow]:
    return select(BreakpointRow).where(BreakpointRow.task_id == task_id, BreakpointRow.resolution_id.is_(None))
