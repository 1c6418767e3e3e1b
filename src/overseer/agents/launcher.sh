#!/bin/sh
# Runs the agent's CLI so that the kernel kills it the moment overseer dies (see lifeline.py).
exec "$LIFELINE_SETPRIV" --pdeathsig KILL -- "$LIFELINE_AGENT_CLI" "$@"
