"""Alembic environment for the state database, driven from code by `overseer.state.store`.

There is no alembic.ini: the store builds the Alembic config itself (`script_location` points at
this package) and hands over its own connection, so migrations run in the store's transaction.
To write a new revision during development, add a file to `versions/` by hand, keeping
`models.py` and the revision in step (`tests/state` compares the two).
"""
