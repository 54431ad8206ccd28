"""Benchmarks that measure the zoo against anchors timed in the same run."""
