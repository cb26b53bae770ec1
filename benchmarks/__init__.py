"""Benchmarks: scripts, not timed tests.  ``python -m benchmarks`` runs them all and prints ratios measured in one run."""
