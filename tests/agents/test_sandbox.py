"""The attempt's walls (`Boundary`), the settings that hand them to Claude Code, and the preflight check."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from overseer.agents.claude_code import ClaudeCodeAgent, ClaudeCodeConfig
from overseer.agents.sandbox import Boundary, check_available, claude_settings, resolve_path, sandbox_event
from overseer.errors import ConfigError


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    (path / ".pyenv").mkdir(parents=True)
    return path


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "projects" / "app"
    path.mkdir(parents=True)
    return path


def boundary(workspace: Path, home: Path, **kwargs: object) -> Boundary:
    return Boundary.around(workspace, home=home, temp_dir=workspace.parent.parent / "tmp", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a.py", "{ws}/a.py"),
        ("sub/../../x", "{parent}/x"),
        ("~/x", "{home}/x"),
        ("$HOME/x", "{home}/x"),
        ("${HOME}/.ssh/id_rsa", "{home}/.ssh/id_rsa"),
        ("/etc/hosts", "/etc/hosts"),
    ],
)
def test_paths_resolve_as_the_file_system_would(workspace: Path, home: Path, raw: str, expected: str) -> None:
    resolved = resolve_path(raw, workspace, home)
    ws, parent, home_ = workspace.resolve(), workspace.resolve().parent, home.resolve()
    assert resolved == Path(expected.format(ws=ws, parent=parent, home=home_))


def test_symlinks_are_followed(workspace: Path, home: Path) -> None:
    (workspace / "out").symlink_to(home)
    assert resolve_path("out/.bashrc", workspace, home) == home.resolve() / ".bashrc"


def test_the_home_and_the_neighbours_are_hidden_but_the_workspace_and_toolchains_are_not(
    workspace: Path, home: Path
) -> None:
    walls = boundary(workspace, home, readable=["~/.pyenv", "~/.missing"])
    assert walls.hidden == (home.resolve(), workspace.resolve().parent)
    assert walls.hiding(home.resolve() / ".ssh" / "id_rsa") == home.resolve()
    assert walls.hiding(workspace.resolve().parent / "other" / ".env") == workspace.resolve().parent
    assert walls.may_read(workspace.resolve() / "a.py")
    assert walls.may_read(home.resolve() / ".pyenv" / "versions")
    assert walls.may_read(Path("/usr/lib/os-release"))
    assert home.resolve() / ".missing" not in walls.readable  # only what exists is opened


def test_only_the_workspace_and_the_temp_dir_are_writable(workspace: Path, home: Path) -> None:
    walls = boundary(workspace, home)
    assert walls.may_write(workspace.resolve() / "src" / "a.py")
    assert walls.may_write(walls.writable[1] / "scratch")
    for outside in (workspace.resolve().parent / "x", home.resolve() / "x", Path("/tmp/x")):
        assert not walls.may_write(outside)


def test_the_root_and_the_workspace_itself_are_never_hidden(tmp_path: Path) -> None:
    walls = Boundary.around(tmp_path, home=tmp_path / "inside-home")
    assert walls.hidden == (tmp_path.resolve().parent,)
    assert Boundary.around(Path("/srv"), home=Path("/")).hidden == ()


def test_allowed_domains_match_exactly_or_by_wildcard(workspace: Path, home: Path) -> None:
    walls = boundary(workspace, home, allowed_domains=["pypi.org", "*.pythonhosted.org"])
    assert walls.may_reach("pypi.org") and walls.may_reach("files.pythonhosted.org")
    assert not walls.may_reach("evil.org") and not walls.may_reach("pypi.org.evil.org")
    assert boundary(workspace, home).may_reach("anything.example")  # no sandbox: no list applies


def test_settings_turn_the_sandbox_on_without_a_way_out(workspace: Path, home: Path) -> None:
    walls = boundary(workspace, home, allowed_domains=["pypi.org"])
    sandbox = claude_settings(walls, sandboxed=True)["sandbox"]
    assert sandbox["enabled"] and sandbox["failIfUnavailable"]
    assert sandbox["allowUnsandboxedCommands"] is False
    assert sandbox["network"] == {"allowedDomains": ["pypi.org"]}
    assert sandbox["filesystem"]["allowWrite"] == [str(p) for p in walls.writable]
    assert sandbox["filesystem"]["denyRead"] == [str(home.resolve()), str(workspace.resolve().parent)]


def test_overseers_state_stays_read_only_inside_the_writable_workspace(workspace: Path, home: Path) -> None:
    walls = Boundary.around(workspace, home=home, protected=[workspace / ".overseer"])
    assert not walls.may_write(workspace.resolve() / ".overseer" / "state.db")
    assert walls.may_write(workspace.resolve() / "overseer.py")
    filesystem = claude_settings(walls, sandboxed=True)["sandbox"]["filesystem"]
    assert filesystem["denyWrite"] == [str(workspace.resolve() / ".overseer")]


def test_without_the_sandbox_the_file_tools_are_still_kept_in(workspace: Path, home: Path) -> None:
    settings = claude_settings(boundary(workspace, home), sandboxed=False)
    assert "sandbox" not in settings
    assert settings["permissions"] == {"blockWritesOutsideWorkingDirectories": True}


def test_the_event_says_whether_the_sandbox_applied(workspace: Path, home: Path) -> None:
    walls = boundary(workspace, home)
    assert sandbox_event(walls, sandboxed=True)["enabled"] is True
    off = sandbox_event(walls, sandboxed=False)
    assert off["enabled"] is False and "off" in off["reason"]


def test_the_sandbox_is_available_on_this_machine() -> None:
    """The test machines have bubblewrap, socat and user namespaces (`make system-packages`)."""
    check_available(None, system="Linux")


def test_missing_bubblewrap_refuses_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        check_available(str(tmp_path), system="Linux")
    assert "bubblewrap (bwrap) is not installed" in str(caught.value)
    assert "apt-get install bubblewrap socat" in caught.value.hint
    assert "agent.options.sandbox: off" in caught.value.hint


def test_missing_socat_refuses(tmp_path: Path) -> None:
    bwrap = shutil.which("bwrap")
    assert bwrap is not None
    (tmp_path / "bwrap").symlink_to(bwrap)
    with pytest.raises(ConfigError, match="socat is not installed"):
        check_available(str(tmp_path), system="Linux")


def test_a_bubblewrap_that_cannot_make_a_user_namespace_refuses(tmp_path: Path) -> None:
    """A stand-in for a kernel without unprivileged user namespaces, which a test cannot switch off:
    a `bwrap` that fails the way bubblewrap fails there."""
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    socat = shutil.which("socat")
    assert socat is not None
    (tmp_path / "socat").symlink_to(socat)
    with pytest.raises(ConfigError) as caught:
        check_available(f"{tmp_path}:/usr/bin:/bin", system="Linux")
    assert "user namespace" in str(caught.value) and "uid map" in str(caught.value)


def test_unsupported_systems_refuse() -> None:
    with pytest.raises(ConfigError, match="no sandbox on Windows"):
        check_available(None, system="Windows")


def test_the_agent_refuses_to_start_without_a_sandbox_unless_told(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sandbox cannot start"):
        ClaudeCodeAgent(ClaudeCodeConfig(env={"PATH": str(tmp_path)})).preflight()
    ClaudeCodeAgent(ClaudeCodeConfig.model_validate({"sandbox": "off", "env": {"PATH": str(tmp_path)}})).preflight()


@pytest.mark.parametrize("value", ["off", False, "false", "no"])
def test_sandbox_off_is_spelled_as_users_write_it(value: object) -> None:
    assert ClaudeCodeConfig.model_validate({"sandbox": value}).sandbox is False


def test_the_model_credentials_are_unset_for_sandboxed_commands(workspace: Path, home: Path) -> None:
    sandbox = claude_settings(boundary(workspace, home), sandboxed=True)["sandbox"]
    denied = {entry["name"] for entry in sandbox["credentials"]["envVars"] if entry["mode"] == "deny"}
    assert {"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"} <= denied
