"""Overseer's persistent state: every task, attempt and decision, in one SQL database.

`store.Store` is the only way in; `models` holds the tables, `statuses` the status enums.
Nothing is imported here, so that commands which never open the database start fast.
"""
