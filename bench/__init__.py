"""Benchmarks: ``python -m bench.bill_run`` (results and how to read them in docs/benchmarks.md)."""
