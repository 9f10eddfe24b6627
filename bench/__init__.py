"""Reproducible performance benchmarks of the City OS (see docs/benchmarks.md)."""
