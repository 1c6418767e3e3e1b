"""The throwaway PostgreSQL server: it serves, and a killed owner's server does not outlive the next run."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import psycopg

from overseer.testing.postgres import PostgresCluster

STARTED_THEN_KILLED = """
import os, signal, sys
from overseer.testing.postgres import PostgresCluster

cluster = PostgresCluster().start()
print(cluster.data_dir.parent, cluster.port, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def answers(port: int, password: str) -> bool:
    try:
        with psycopg.connect(
            host="127.0.0.1", port=port, user="postgres", dbname="postgres", password=password, connect_timeout=2
        ) as connection:
            return connection.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_a_server_left_by_a_killed_process_is_stopped_by_the_next_cluster(postgres: PostgresCluster) -> None:
    # `postgres` first: the session's own cluster is alive and owned, and must survive the clean-up.
    killed = subprocess.run(
        [sys.executable, "-c", STARTED_THEN_KILLED], capture_output=True, text=True, timeout=120, check=False
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    root, port = killed.stdout.split()
    assert Path(root, "data", "postmaster.pid").exists()  # the orphan: still serving, nobody to stop it

    with PostgresCluster() as fresh:
        assert answers(fresh.port, fresh.password)
        assert not Path(root).exists()
        assert not listening(int(port))  # `pg_ctl stop -w` returned after the server had exited

    assert postgres.create_database("still_served")
    postgres.drop_database("still_served")
