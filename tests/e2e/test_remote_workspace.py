"""`overseer do` on a workspace that lives on another machine (`agent.name: claude-ssh`).

The "remote" is a real OpenSSH sshd on loopback whose sessions see a private tmpfs this process
cannot (`SSHServer(private_tmp=True)`): the workspace is created there, so every file overseer
reads or writes in it, its snapshots and its gates' runs must go through SSH. The real `claude`
CLI runs on that side against the scripted Messages API server (the one fake: no real model may be
reached from tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

import pytest
import yaml

from overseer import demo
from overseer.agents.claude_code import bundled_cli
from overseer.redact import Redactor
from overseer.state.store import Store, sqlite_url
from overseer.testing import Say, ScriptedAnthropicServer, Turn, Use, turn
from overseer.testing.ssh import SSHServer
from overseer.workspace.ssh_host import SSHHost
from tests.conftest import Ran, ssh_settings_for

TASK = "Implement word_count in textstats.py so that the tests pass."


@pytest.fixture
def remote(ssh_server: SSHServer, tmp_path: Path) -> Iterator[tuple[SSHServer, SSHHost, PurePosixPath]]:
    """A private-tmp sshd, a host logged in to it, and the demo project copied into its private tmp."""
    source = tmp_path / "source"
    source.mkdir()
    demo.create_project(source)
    with SSHServer(private_tmp=True) as server, SSHHost(ssh_settings_for(server)) as host:
        root = host.mkdtemp("overseer-remote-")
        workspace = PurePosixPath(root) / "project"
        copied = host.run(["cp", "-r", str(source), str(workspace)])
        assert copied.exit_code == 0, copied.stderr
        yield server, host, workspace


def test_do_judges_and_keeps_the_work_on_the_remote_workspace(
    remote: tuple[SSHServer, SSHHost, PurePosixPath],
    tmp_path: Path,
    scripted: Callable[[list[Turn]], ScriptedAnthropicServer],
    overseer: Callable[..., Ran],
) -> None:
    server, host, workspace = remote
    local = tmp_path / "state"  # overseer's own state: the store, the log, the configuration
    (local / ".overseer").mkdir(parents=True)
    settings = ssh_settings_for(server)
    options = {
        **settings.model_dump(mode="json", include={"host", "port", "user", "key", "known_hosts"}),
        "workspace": str(workspace),
        "remote_cli": str(bundled_cli()),
        "sandbox": False,
    }
    (local / ".overseer" / "config.yaml").write_text(
        yaml.safe_dump({"agent": {"name": "claude-ssh", "options": options}})
    )
    module = str(workspace / "textstats.py")
    edit = {
        "file_path": module,
        "old_string": "    raise NotImplementedError\n",
        "new_string": "    return len(text.split())\n",
    }
    scripted(
        [
            turn(Use("Read", {"file_path": module})),
            turn(Use("Edit", edit)),
            turn(Say("Implemented word_count. 3 passed.")),
        ]
    )

    ran = overseer("do", "--json", "-w", str(local), TASK)

    assert ran.code == 0, ran.err
    result = ran.json()
    assert (result["status"], result["decision"]) == ("completed", "proceed")
    assert result["files_changed"] == ["textstats.py"]
    assert b"len(text.split())" in host.read_bytes(workspace / "textstats.py")
    assert not Path(str(workspace)).exists()  # the workspace exists on the remote side only
    assert host.is_file(workspace / ".overseer" / "shadow.git" / "HEAD")  # its snapshots are kept there
    store = Store.open(sqlite_url(local / ".overseer" / "state.db"), redactor=Redactor([]))
    try:
        [attempt] = store.attempts(result["task_id"])
        findings = {finding.code for finding in store.findings(attempt.id)}
        verdict = store.verdict(attempt.id)
    finally:
        store.close()
    assert attempt.checkpoint_before and attempt.checkpoint_after
    assert verdict is not None and verdict.verified  # the tests ran, on the remote copy, and passed
    assert "tests_failed" not in findings

    # The snapshots are listed from the remote shadow repository, and a rollback happens there.
    listed = overseer("checkpoints", "--json", "-w", str(local))
    assert listed.code == 0, listed.err
    shas = {row["id"] for row in listed.json()["checkpoints"]}
    assert {attempt.checkpoint_before, attempt.checkpoint_after} <= shas
    rolled = overseer("rollback", "--json", "-w", str(local), attempt.checkpoint_before)
    assert rolled.code == 0, rolled.err
    assert b"raise NotImplementedError" in host.read_bytes(workspace / "textstats.py")
