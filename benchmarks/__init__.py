"""Benchmarks of the ingestion and of the privacy requests: a Django app for development only.

`manage.py bench_ingest` and `manage.py bench_privacy` run from a checkout; the installed package
leaves this app out, and the settings add it only where it can be imported.
"""
