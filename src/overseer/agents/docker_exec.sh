#!/bin/sh
# Runs the agent's CLI inside its container (see docker_transport.py): the SDK's `cli_path`.
exec "$OVERSEER_DOCKER_PYTHON" -m overseer.agents.docker_transport "$@"
