"""The workspace layer: ignore rules, checkpoints in a shadow git repository, and the file watcher."""
