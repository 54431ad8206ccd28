"""Timing helpers: repeated runs summarised as median, min and max."""

import statistics
import time


def summary(seconds):
    return {"median": statistics.median(seconds), "min": min(seconds), "max": max(seconds),
            "runs": len(seconds)}


def timed(fn):
    """Seconds one call of `fn` takes, and what it returned."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def interleaved(runs, **candidates):
    """Times each candidate `runs` times, interleaved A B A B, after one warm-up each.

    Interleaving spreads the machine's drift (other load, thermal state) evenly
    over the candidates, so their ratio is fair even when absolute times wander.
    """
    for fn in candidates.values():
        fn()
    seconds = {name: [] for name in candidates}
    for _ in range(runs):
        for name, fn in candidates.items():
            seconds[name].append(timed(fn)[0])
    return {name: summary(values) for name, values in seconds.items()}
