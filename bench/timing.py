"""Timing helpers: interleaved runs, their summary, and ratios with their noise.

A ratio of two medians from a shared, loaded machine is one draw: the bench
reports it with a bootstrap 90% interval and a verdict against its target
("met", "missed" or "within noise"), so a row says whether it means anything.
"""

import statistics
import time

import numpy as np

LEVEL = 0.9  # the interval's coverage
RESAMPLES = 4000
SEED = 0  # the interval of the same timings is the same on every render


def summary(seconds):
    """Median, min and max of per-run figures, with the runs themselves (the
    ratio intervals resample them)."""
    return {"median": statistics.median(seconds), "min": min(seconds), "max": max(seconds),
            "runs": len(seconds), "values": list(seconds)}


def timed(fn):
    """Seconds one call of `fn` takes, and what it returned."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def interleaved(runs, **candidates):
    """Times each candidate `runs` times, interleaved A B B A A B ..., after one
    warm-up each.

    Interleaving spreads the machine's drift (other load, thermal state) evenly
    over the candidates, so their ratio is fair even when absolute times wander;
    reversing the order every other round keeps any candidate from always
    running first (after the harness's own work) or last.
    """
    for fn in candidates.values():
        fn()
    seconds = {name: [] for name in candidates}
    order = list(candidates.items())
    for round_ in range(runs):
        for name, fn in order if round_ % 2 == 0 else order[::-1]:
            seconds[name].append(timed(fn)[0])
    return {name: summary(values) for name, values in seconds.items()}


def ratio_interval(numerator, denominator, level=LEVEL, resamples=RESAMPLES, seed=SEED):
    """median(numerator) / median(denominator) and its percentile-bootstrap interval.

    Each side is a list of runs, or [instances, runs]: the same thing timed
    through several independent objects (e.g. TFLite interpreters of one file,
    whose speeds differ by a few percent with where their buffers land). The runs are
    paired (run i of every instance on both sides was timed in the same round of
    `interleaved`), so a resample draws the same run indices for both: load that
    slows a round cancels in the ratio instead of widening the interval. The
    instances are resampled too, on each side independently, so the interval
    also holds the spread between instances, which one instance per side would
    read as a difference between the things timed. Returns (ratio, low, high).
    """
    num, den = (np.atleast_2d(np.asarray(x, "float64")) for x in (numerator, denominator))
    if num.ndim != 2 or num.shape[1] != den.shape[1] or num.shape[1] < 2:
        raise ValueError(f"a ratio's interval needs the same number (>= 2) of paired runs on "
                         f"each side; got {np.shape(numerator)} and {np.shape(denominator)}.")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level!r}.")
    rng = np.random.default_rng(seed)
    rounds = rng.integers(0, num.shape[1], (resamples, 1, num.shape[1]))

    def resampled_medians(times):
        instances = rng.integers(0, len(times), (resamples, len(times), 1))
        return np.median(times[instances, rounds].reshape(resamples, -1), axis=1)

    ratios = resampled_medians(num) / resampled_medians(den)
    low, high = np.quantile(ratios, [(1 - level) / 2, (1 + level) / 2])
    return float(np.median(num) / np.median(den)), float(low), float(high)


def verdict(low, high, target):
    """'met' when the whole interval is at or above `target`, 'missed' when it is
    all below, else 'within noise': the runs cannot tell."""
    if low > high:
        raise ValueError(f"interval low end {low!r} is above its high end {high!r}.")
    if low >= target:
        return "met"
    if high < target:
        return "missed"
    return "within noise"


def ratio_columns(numerator, denominator, target=None, name="ratio"):
    """Row columns for a ratio of timings (seconds lists, or `summary` dicts):
    `name`, `name_low`, `name_high`, and with a target, `target` and `verdict`."""
    values = [x["values"] if isinstance(x, dict) else x for x in (numerator, denominator)]
    ratio, low, high = ratio_interval(*values)
    columns = {name: ratio, f"{name}_low": low, f"{name}_high": high}
    if target is not None:
        prefix = "" if name == "ratio" else f"{name}_"
        columns.update({f"{prefix}target": target,
                        f"{prefix}verdict": verdict(low, high, target)})
    return columns
