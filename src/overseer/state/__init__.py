"""Overseer's persistent state: every task, attempt and decision, in one SQL database.

`store.Store` is the only way in; `models` holds the tables (the status enums
live in `overseer.domain`).
Nothing is imported here, so that commands which never open the database start fast.
"""
