"""Benchmarks: `bench/run.py` (what overseer costs) and `bench/supervision/` (how well it judges)."""
