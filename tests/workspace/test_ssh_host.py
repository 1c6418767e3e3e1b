"""SSHHost against a real OpenSSH sshd on loopback: the "remote" machine is this one, so what a command
did there is checked here directly (files with pathlib, processes in /proc)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

import pytest

from overseer.errors import HostError
from overseer.testing.ssh import SSHServer, TCPProxy, keygen
from overseer.workspace.host import Host
from overseer.workspace.ssh_host import SSHHost, SSHSettings
from tests.conftest import process_gone, ssh_settings_for


def remote(path: Path) -> PurePosixPath:
    return PurePosixPath(str(path))


# run


def test_an_ssh_host_is_a_host_named_by_its_url(ssh_host: SSHHost, ssh_server: SSHServer) -> None:
    assert isinstance(ssh_host, Host)
    assert ssh_host.label == f"ssh://{ssh_server.user}@127.0.0.1:{ssh_server.port}"


def test_run_gives_the_exit_code_and_both_streams(ssh_host: SSHHost) -> None:
    done = ssh_host.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (done.exit_code, done.stdout, done.stderr) == (3, b"out\n", b"err\n")
    assert not done.timed_out
    # Killed by a signal: its negative number, as subprocess reports it.
    assert ssh_host.run(["sh", "-c", "kill -TERM $$"]).exit_code == -signal.SIGTERM


def test_runs_from_several_threads_share_the_connection(ssh_host: SSHHost) -> None:
    ssh_host.connect()
    results: list[bytes] = []
    started = time.monotonic()
    # More than the 10 channels sshd allows a connection by default: the rest wait their turn.
    threads = [
        threading.Thread(target=lambda n=n: results.append(ssh_host.run(["sh", "-c", f"sleep 1; echo {n}"]).stdout))
        for n in range(12)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == sorted(f"{n}\n".encode() for n in range(12))
    assert time.monotonic() - started < 10  # side by side, not one after another (over 12 s)


def test_arguments_reach_the_program_as_they_are(ssh_host: SSHHost) -> None:
    odd = ["a b", "it's", '"q"', "$HOME", "`id`", "*", "semi;colon", "new\nline", ""]
    done = ssh_host.run(["printf", "%s|", *odd])
    assert done.stdout.decode() == "".join(f"{arg}|" for arg in odd)


def test_run_in_a_directory(ssh_host: SSHHost, tmp_path: Path) -> None:
    (tmp_path / "here.txt").write_text("x")
    done = ssh_host.run(["ls"], cwd=remote(tmp_path))
    assert done.stdout == b"here.txt\n"


def test_a_missing_directory_or_program_is_a_host_error(ssh_host: SSHHost, tmp_path: Path) -> None:
    with pytest.raises(HostError, match=r"cannot run pwd on ssh://.*: no directory .*/nowhere"):
        ssh_host.run(["pwd"], cwd=remote(tmp_path / "nowhere"))
    with pytest.raises(HostError, match="no such program"):
        ssh_host.run(["no-such-program-here"])
    # A command that exits 127 itself is a command that failed, not one that could not start.
    assert ssh_host.run(["sh", "-c", "exit 127"]).exit_code == 127


def test_env_sets_and_removes_names_over_the_login_environment(ssh_host: SSHHost) -> None:
    value = "a b 'c' \"d\" $e `f`\nline two"
    done = ssh_host.run(
        ["sh", "-c", 'printf "%s|%s" "$OVERSEER_X" "${HOME-unset}"'], env={"OVERSEER_X": value, "HOME": None}
    )
    assert done.stdout.decode() == f"{value}|unset"
    # The login environment is there otherwise.
    assert ssh_host.run(["sh", "-c", 'printf %s "$HOME"']).stdout != b""


def test_unset_prefixes_remove_login_variables_before_env_applies() -> None:
    login = {"GIT_DIR": "/nowhere", "GIT_AUTHOR_NAME": "someone", "GITLESS": "kept"}
    with SSHServer(login_env=login) as server, SSHHost(ssh_settings_for(server)) as host:
        show = ["sh", "-c", 'printf "%s|%s|%s|%s" "${GIT_DIR-unset}" "${GIT_AUTHOR_NAME-unset}" "$GITLESS" "$GIT_NEW"']
        assert host.run(show).stdout == b"/nowhere|someone|kept|"
        done = host.run(show, unset_prefixes=("GIT_",), env={"GIT_NEW": "set"})
        assert done.stdout == b"unset|unset|kept|set"


def test_what_a_login_script_prints_is_not_the_commands_output(tmp_path: Path) -> None:
    chatty = "echo welcome; echo banner >&2; export FROM_LOGIN=yes"
    with SSHServer(login_script=chatty) as server, SSHHost(ssh_settings_for(server)) as host:
        done = host.run(["sh", "-c", 'echo "$FROM_LOGIN"; echo err >&2'])
        assert (done.stdout, done.stderr) == (b"yes\n", b"err\n")  # the script ran; its words are gone
        assert host.run(["sh", "-c", "echo out; echo err >&2"], merge_stderr=True).stdout == b"out\nerr\n"
        with pytest.raises(HostError, match="no such program"):
            host.run(["no-such-program-here"])
        pid_file = tmp_path / "pid"
        command = f"sleep 1000 & echo $! > {pid_file}.tmp; mv {pid_file}.tmp {pid_file}; wait"
        assert host.run(["sh", "-c", command], timeout_s=2).timed_out
        assert process_gone(int(pid_file.read_text()))  # its process group was still found


def test_stdin_is_the_bytes_given_or_empty(ssh_host: SSHHost) -> None:
    data = bytes(range(256)) * 8192  # 2 MiB: more than one SSH window
    done = ssh_host.run(["sha256sum"], stdin=data)
    assert done.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()
    # No stdin: a command reading it ends at once instead of waiting on a terminal.
    waiting = ssh_host.run(["cat"], timeout_s=10)
    assert (waiting.exit_code, waiting.stdout) == (0, b"")


def test_large_output_arrives_whole(ssh_host: SSHHost) -> None:
    done = ssh_host.run(["head", "-c", "3000000", "/dev/zero"])
    assert done.stdout == bytes(3_000_000)


def test_merge_stderr_interleaves_as_written(ssh_host: SSHHost) -> None:
    done = ssh_host.run(["sh", "-c", "echo 1; echo 2 >&2; echo 3; echo 4 >&2"], merge_stderr=True)
    assert (done.stdout, done.stderr) == (b"1\n2\n3\n4\n", b"")


def test_a_timeout_before_the_command_started_still_kills_it(ssh_host: SSHHost, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    command = f"sleep 1000 & echo $! > {pid_file}.tmp; mv {pid_file}.tmp {pid_file}; wait"
    done = ssh_host.run(["sh", "-c", command], timeout_s=0.001)
    assert done.timed_out and done.stdout == b""
    if pid_file.exists():  # else it was killed before it could start its child
        assert process_gone(int(pid_file.read_text()))


def test_a_timeout_kills_the_whole_process_group(ssh_host: SSHHost) -> None:
    started = time.monotonic()
    done = ssh_host.run(["sh", "-c", "sleep 1000 & echo $!; echo partial >&2; wait"], timeout_s=2.0)
    elapsed = time.monotonic() - started
    assert done.timed_out and done.exit_code is None
    assert done.stderr == b"partial\n"  # what it wrote before the timeout is kept
    child = int(done.stdout)
    assert process_gone(child)
    assert elapsed < 6, elapsed


def test_an_interrupted_run_kills_what_it_started(ssh_host: SSHHost, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    with once(pid_file.exists, lambda: os.kill(os.getpid(), signal.SIGINT)), pytest.raises(KeyboardInterrupt):
        ssh_host.run(
            ["sh", "-c", f"sleep 1000 & echo $! > {pid_file}.tmp; mv {pid_file}.tmp {pid_file}; wait"], timeout_s=30
        )
    assert process_gone(int(pid_file.read_text()))
    assert ssh_host.run(["true"]).exit_code == 0  # the connection is still good


# files


def test_files_are_written_and_read_on_the_host(ssh_host: SSHHost, tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    payload = os.urandom(300_000)
    ssh_host.write_bytes(remote(target), payload)
    assert target.read_bytes() == payload
    ssh_host.write_bytes(remote(target), b"replaced")
    assert target.read_bytes() == b"replaced"
    assert ssh_host.read_bytes(remote(target)) == b"replaced"
    with pytest.raises(FileNotFoundError, match="missing"):
        ssh_host.read_bytes(remote(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError):
        ssh_host.write_bytes(remote(tmp_path / "no-dir" / "file"), b"x")


def test_exists_is_file_mkdir_and_unlink(ssh_host: SSHHost, tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "c"
    ssh_host.mkdir(remote(deep))
    ssh_host.mkdir(remote(deep))  # an existing one is fine
    assert deep.is_dir()
    assert ssh_host.exists(remote(deep)) and not ssh_host.is_file(remote(deep))
    (deep / "f").write_text("x")
    assert ssh_host.exists(remote(deep / "f")) and ssh_host.is_file(remote(deep / "f"))
    ssh_host.unlink(remote(deep / "f"))
    ssh_host.unlink(remote(deep / "f"))  # a missing one is fine
    assert not (deep / "f").exists()
    assert not ssh_host.exists(remote(deep / "f")) and not ssh_host.is_file(remote(deep / "f"))


def test_mkdtemp_makes_private_directories_and_rmtree_removes_them(ssh_host: SSHHost) -> None:
    first, second = ssh_host.mkdtemp("overseer-test-"), ssh_host.mkdtemp("overseer-test-")
    try:
        assert first != second
        for made in (first, second):
            local = Path(str(made))
            assert local.is_dir() and local.name.startswith("overseer-test-")
            assert local.stat().st_mode & 0o777 == 0o700
        (Path(str(first)) / "sub").mkdir()
        (Path(str(first)) / "sub" / "f").write_text("x")
    finally:
        ssh_host.rmtree(first)
        ssh_host.rmtree(second)
    assert not Path(str(first)).exists() and not Path(str(second)).exists()
    ssh_host.rmtree(first)  # gone already: errors are ignored


def test_a_private_tmp_is_seen_by_the_sessions_only() -> None:
    with SSHServer(private_tmp=True) as server, SSHHost(ssh_settings_for(server)) as host:
        assert server.private_tmp is not None
        made = host.mkdtemp("overseer-test-")
        assert made.parent == remote(server.private_tmp)
        host.write_bytes(made / "f", b"remote only")
        assert host.read_bytes(made / "f") == b"remote only"
        assert host.run(["cat", str(made / "f")]).stdout == b"remote only"
        assert not Path(str(made)).exists()  # not on this process's disk
        assert server.inside(["cat", str(made / "f")]).stdout == b"remote only"


def test_which_finds_programs_on_the_login_path(ssh_host: SSHHost) -> None:
    assert ssh_host.which("sh") in {"/usr/bin/sh", "/bin/sh"}
    assert ssh_host.which("echo") in {"/usr/bin/echo", "/bin/echo"}  # the program, not the shell's builtin
    assert ssh_host.which("no-such-program-here") is None


# login and host keys


def test_a_key_the_server_does_not_accept_is_refused_with_a_hint(ssh_server: SSHServer, tmp_path: Path) -> None:
    stranger = keygen(tmp_path / "stranger")
    with SSHHost(ssh_settings_for(ssh_server, key=stranger)) as host:
        started = time.monotonic()
        with pytest.raises(HostError, match=r"the SSH server at 127.0.0.1:\d+ refused the key .*stranger") as caught:
            host.run(["true"])
    assert "authorized_keys" in caught.value.hint
    assert time.monotonic() - started < 3  # refused at once: not retried


def test_a_key_overseer_cannot_read_is_named(ssh_server: SSHServer, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", str(locked)], check=True)
    for key in (locked, tmp_path / "absent"):
        with SSHHost(ssh_settings_for(ssh_server, key=key)) as host, pytest.raises(HostError) as caught:
            host.connect()
        assert f"cannot read the SSH key {key}" in str(caught.value)
        assert "without a passphrase" in caught.value.hint


def test_a_changed_host_key_is_refused_and_the_fix_named(fresh_ssh_server: SSHServer) -> None:
    server = fresh_ssh_server
    with SSHHost(ssh_settings_for(server)) as host:
        host.connect()
        server.rekey()  # the running connection dies with the old server
        with pytest.raises(HostError) as caught:
            host.run(["true"])
        message = str(caught.value)
        assert f"the host key of [127.0.0.1]:{server.port} has changed" in message
        assert str(server.known_hosts) in message
        assert f"ssh-keygen -R '[127.0.0.1]:{server.port}' -f {server.known_hosts}" in message
        assert "\n" not in message
        server.trust()  # the user checked the new key and recorded it
        assert host.run(["true"]).exit_code == 0


def test_a_host_missing_from_known_hosts_is_refused(ssh_server: SSHServer, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    unknown = rf"the host key of \[127.0.0.1\]:{ssh_server.port} is not in {empty}"
    with SSHHost(ssh_settings_for(ssh_server, known_hosts=empty)) as host, pytest.raises(HostError, match=unknown):
        host.run(["true"])
    absent = ssh_settings_for(ssh_server, known_hosts=tmp_path / "absent")
    with SSHHost(absent) as host, pytest.raises(HostError, match="cannot read the known_hosts file"):
        host.connect()


# lost connections


def test_sshd_killed_then_restarted_the_next_call_reconnects(fresh_ssh_server: SSHServer) -> None:
    server = fresh_ssh_server
    with SSHHost(ssh_settings_for(server)) as host:
        assert host.run(["true"]).exit_code == 0
        server.kill()
        with pytest.raises(HostError, match=r"cannot reach ssh://.* after 3 attempts"):
            host.run(["true"])
        server.restart()
        assert host.run(["echo", "back"]).stdout == b"back\n"
        assert host.exists(PurePosixPath("/"))  # SFTP on the new connection too


def test_a_command_whose_connection_drops_fails_and_is_not_run_again(ssh_server: SSHServer, tmp_path: Path) -> None:
    log, pid_file = tmp_path / "runs.log", tmp_path / "pid"
    with TCPProxy(ssh_server.port) as proxy, SSHHost(proxied(ssh_server, proxy, tmp_path)) as host:
        command = f"echo ran >> {log}; sleep 1000 & echo $! > {pid_file}.tmp; mv {pid_file}.tmp {pid_file}; wait"
        lost = r"the connection to ssh://.* was lost while running `sh -c"
        with once(pid_file.exists, proxy.drop), pytest.raises(HostError, match=lost) as caught:
            host.run(["sh", "-c", command], timeout_s=30)
        assert "not done again" in caught.value.hint
        child = int(pid_file.read_text())
        assert not process_gone_now(child)  # sshd does not stop a command whose client went away...
        assert host.run(["echo", "next"]).stdout == b"next\n"  # ...the next call, on a new connection,
        assert process_gone(child)  # stops what the lost one left running
        assert log.read_text() == "ran\n"  # and nothing was run twice


def test_a_file_operation_whose_connection_drops_is_tried_once_more(ssh_server: SSHServer, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("content")
    with TCPProxy(ssh_server.port) as proxy, SSHHost(proxied(ssh_server, proxy, tmp_path)) as host:
        assert host.read_bytes(remote(tmp_path / "f")) == b"content"
        proxy.drop()
        assert host.read_bytes(remote(tmp_path / "f")) == b"content"
        assert proxy.connections == 1  # the new one


def test_keepalives_find_a_connection_that_went_silent(ssh_server: SSHServer, tmp_path: Path) -> None:
    with TCPProxy(ssh_server.port) as proxy:
        settings = proxied(ssh_server, proxy, tmp_path, keepalive_s=0.3, keepalive_count=2)
        with SSHHost(settings) as host:
            host.connect()
            threading.Timer(0.5, proxy.freeze).start()
            started = time.monotonic()
            with pytest.raises(HostError, match=r"was lost while running .*keepalive"):
                host.run(["sleep", "1000"], timeout_s=30)
            assert time.monotonic() - started < 5
            proxy.drop()
            proxy.resume()
            assert host.run(["true"]).exit_code == 0


def test_an_unreachable_host_is_a_host_error_after_the_retries(ssh_server: SSHServer, tmp_path: Path) -> None:
    with TCPProxy(ssh_server.port) as proxy:
        proxy.pause()
        with SSHHost(proxied(ssh_server, proxy, tmp_path, reconnect_attempts=4)) as host:
            with pytest.raises(HostError, match=r"cannot reach ssh://.* after 4 attempts") as caught:
                host.run(["true"])
            assert f"port {proxy.port}" in caught.value.hint
            assert proxy.accepted == 4
            proxy.resume()
            assert host.run(["true"]).exit_code == 0


def test_a_closed_host_refuses_calls(ssh_server: SSHServer) -> None:
    host = SSHHost(ssh_settings_for(ssh_server))
    host.connect()
    host.close()
    host.close()  # twice is fine
    with pytest.raises(HostError, match="is closed"):
        host.run(["true"])


@contextlib.contextmanager
def once(condition: Callable[[], bool], action: Callable[[], object]) -> Iterator[None]:
    """Do `action` from a thread as soon as `condition` holds (within 10 s), while the body runs."""
    stop = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 10
        while not stop.is_set() and time.monotonic() < deadline:
            if condition():
                action()
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()


def test_closing_the_host_ends_a_call_another_thread_waits_on(ssh_server: SSHServer, tmp_path: Path) -> None:
    """A call in flight on another thread must not wait for ever on a loop that close() stopped."""
    pid_file = tmp_path / "pid"
    host = SSHHost(ssh_settings_for(ssh_server))
    failures: list[BaseException] = []

    def call() -> None:
        try:
            host.run(["sh", "-c", f"sleep 1000 & echo $! > {pid_file}; wait"])
        except BaseException as exc:
            failures.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)

    host.close()
    caller.join(timeout=30)  # wide: a loaded machine; without the fix it never returns

    assert not caller.is_alive()
    assert len(failures) == 1 and isinstance(failures[0], HostError)
    assert "closed" in str(failures[0])
    assert process_gone(int(pid_file.read_text()))  # and what it ran was stopped


def proxied(server: SSHServer, proxy: TCPProxy, tmp_path: Path, **changes: object) -> SSHSettings:
    """Settings that reach `server` through `proxy` (known_hosts names the proxy's port)."""
    known_hosts = tmp_path / "proxy_known_hosts"
    known_hosts.write_text(server.known_hosts.read_text().replace(f":{server.port} ", f":{proxy.port} "))
    return ssh_settings_for(server, port=proxy.port, known_hosts=known_hosts, **changes)


def process_gone_now(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state == "Z"
