#!/bin/sh
# Runs the agent's CLI on its SSH host (see ssh_transport.py): the SDK's `cli_path`.
exec "$OVERSEER_SSH_PYTHON" -m overseer.agents.ssh_transport "$@"
