"""Each benchmark runs end to end on tiny settings; its output parses and its
ratios are finite. No timing is asserted: the numbers belong in README tables."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from bench import tables, timing
from bench.__main__ import BENCHMARKS

# The accuracy bench once fed 0-1 images to a model that takes 0-255: chance (0.1) at
# every epoch, while the harness's own evaluation said 0.96.
SANE_AT_LEAST = {"accuracy": {"final_accuracy": 0.5}}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_quick_benchmark_runs(name, tmp_path):
    output = tmp_path / "results.json"
    run = subprocess.run([sys.executable, "-m", "bench", "--quick", f"--only={name}",
                          f"--output={output}"], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"== {name}" in run.stdout
    rows = json.loads(output.read_text())["benchmarks"][name]
    assert rows, f"{name} produced no rows"
    ratios = [value for row in rows for key, value in row.items() if "ratio" in key]
    assert ratios and all(math.isfinite(r) and r > 0 for r in ratios)
    # Figures that only a broken measurement gets wrong, even on tiny settings.
    for key, low in SANE_AT_LEAST.get(name, {}).items():
        assert all(row[key] >= low for row in rows), (key, rows)


def test_unknown_benchmark_is_refused():
    run = subprocess.run([sys.executable, "-m", "bench", "--only=nope"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "--only takes names from" in run.stderr


# --- noise-aware ratios (bench.timing), on synthetic timings --------------------

def test_ratio_interval_is_the_ratio_of_medians_and_brackets_it():
    numerator = [2.0, 2.2, 1.9, 2.1, 2.6, 2.0, 1.8]
    denominator = [1.0, 1.1, 1.0, 0.9, 1.2, 1.0, 1.05]
    ratio, low, high = timing.ratio_interval(numerator, denominator)
    assert ratio == pytest.approx(2.0 / 1.0)  # medians 2.0 and 1.0
    assert low <= ratio <= high
    # A percentile bootstrap never leaves the range of the resampled ratios of medians.
    assert low >= min(numerator) / max(denominator) and high <= max(numerator) / min(denominator)
    assert timing.ratio_interval(numerator, denominator) == (ratio, low, high)  # seeded


def test_paired_resampling_cancels_load_shared_by_a_pair():
    # Load swings times fourfold, but each pair was timed back to back: the
    # second candidate is always exactly 1.1x the first, so the interval is a point.
    load = np.random.default_rng(1).uniform(1, 4, 15)
    ratio, low, high = timing.ratio_interval(1.1 * load, load)
    assert ratio == low == high == pytest.approx(1.1)


def test_constant_timings_give_a_point_interval():
    assert timing.ratio_interval([3.0] * 5, [2.0] * 5) == (1.5, 1.5, 1.5)


def test_interval_covers_the_true_ratio_about_90_percent_of_the_time():
    rng = np.random.default_rng(2)
    covered = 0
    for trial in range(200):
        # Independent log-normal noise, true ratio of medians 1.0.
        a, b = np.exp(rng.normal(0, 0.2, (2, 25)))
        _, low, high = timing.ratio_interval(a, b, resamples=1000, seed=trial)
        covered += low <= 1.0 <= high
    assert 0.8 <= covered / 200 <= 0.97


def test_interval_narrows_with_more_runs():
    rng = np.random.default_rng(3)
    width = {}
    for n in (5, 80):
        a, b = np.exp(rng.normal(0, 0.2, (2, n)))
        _, low, high = timing.ratio_interval(a, b)
        width[n] = high - low
    assert width[80] < width[5] / 2


def test_one_instance_is_the_same_as_plain_runs():
    a, b = np.exp(np.random.default_rng(4).normal(0, 0.2, (2, 30)))
    assert timing.ratio_interval([a], [b]) == timing.ratio_interval(a, b)


def test_spread_between_instances_widens_the_interval_to_cover_it():
    # Four interpreters of the same file on each side, each about 1% off the others
    # for good, with little noise between runs: the true ratio is 1. Judged on one
    # instance a side, the offset between two instances reads as a tight miss or win;
    # resampling the instances covers 1.
    rng = np.random.default_rng(5)

    def instances():
        return (1 + rng.normal(0, 0.01, (4, 1))) * np.exp(rng.normal(0, 0.002, (4, 50)))

    numerator, denominator = instances(), instances()
    _, low, high = timing.ratio_interval(numerator, denominator)
    assert low < 1.0 < high
    one = [timing.ratio_interval(numerator[i], denominator[j]) for i in range(4) for j in range(4)]
    assert any(high < 1.0 or low > 1.0 for _, low, high in one)


@pytest.mark.parametrize("numerator, denominator", [([1.0], [1.0]), ([1.0, 2.0], [1.0]),
                                                    ([[1.0, 2.0]], [[1.0, 2.0, 3.0]]),
                                                    ([[[1.0, 2.0]]], [[[1.0, 2.0]]])])
def test_ratio_interval_refuses_unpaired_or_single_runs(numerator, denominator):
    with pytest.raises(ValueError, match="paired runs"):
        timing.ratio_interval(numerator, denominator)


@pytest.mark.parametrize("low, high, target, expected", [
    (1.02, 1.10, 1.0, "met"),
    (1.00, 1.10, 1.0, "met"),            # the low end at the target meets it
    (0.85, 0.99, 1.0, "missed"),
    (0.85, 1.00, 1.0, "within noise"),   # the high end at the target cannot miss it
    (0.86, 1.05, 1.0, "within noise"),
    (1.45, 1.70, 1.4, "met"),
])
def test_verdict(low, high, target, expected):
    assert timing.verdict(low, high, target) == expected


def test_verdict_refuses_an_inverted_interval():
    with pytest.raises(ValueError, match="above its high end"):
        timing.verdict(1.2, 1.1, 1.0)


def test_ratio_columns_from_interleaved_summaries():
    ticks = iter(range(100))
    times = timing.interleaved(4, fast=lambda: next(ticks), slow=lambda: next(ticks))
    assert times["fast"]["runs"] == len(times["fast"]["values"]) == 4
    slow, fast = [2.0, 2.1, 1.9, 2.0], [1.0, 1.0, 1.1, 0.9]
    row = timing.ratio_columns({"values": slow}, fast, target=1.5)
    assert row["ratio"] == pytest.approx(2.0) and row["verdict"] == "met"
    assert row["target"] == 1.5 and row["ratio_low"] <= 2.0 <= row["ratio_high"]
    named = timing.ratio_columns(fast, slow, target=1.0, name="vs_float32")
    assert named["vs_float32_verdict"] == "missed" and "verdict" not in named


def test_tables_fold_the_interval_into_the_ratio_cell():
    rows = [{"model": "a", "ratio": 1.04, "ratio_low": 0.98, "ratio_high": 1.1,
             "target": 1.0, "verdict": "within noise", "seconds": {"a": 1}},
            {"model": "b", "note": None}]
    headings, cells = tables.display(rows)
    assert headings == ["model", "ratio (90% interval)", "target", "verdict", "note"]
    assert cells[0] == ["a", "1.04 [0.98, 1.1]", "1", "within noise", ""]
    assert cells[1] == ["b", "", "", "", ""]


def test_interleaved_alternates_the_order_of_candidates():
    calls = []
    timing.interleaved(3, a=lambda: calls.append("a"), b=lambda: calls.append("b"))
    assert "".join(calls) == "ab" + "ab" + "ba" + "ab"  # warm-up, then A B, B A, A B


# --- export against the best export (bench.latency), on synthetic timings ------

def test_latency_rows_compare_every_export_with_zoos():
    from bench import latency

    seconds = {"zoo": [1e-3, 1.1e-3, 0.9e-3, 1e-3], "keras_export": [2e-3, 2.1e-3, 1.9e-3, 2e-3],
               "from_keras_model": [0.5e-3, 0.55e-3, 0.45e-3, 0.5e-3], "keras": [4e-3] * 4}
    sizes = {"zoo": 1000, "keras_export": 1008, "from_keras_model": 900}
    rows = {row["export"]: row for row in latency._rows(
        {"model": "m", "threads": 1}, seconds, sizes, flops=2e6)}
    assert rows["zoo"]["ms"] == pytest.approx(1.0) and "ratio" not in rows["zoo"]
    assert rows["zoo"]["gflops"] == pytest.approx(2.0)  # 2e6 FLOPs in 1 ms
    assert rows["keras_export"]["ratio"] == pytest.approx(2.0)
    assert rows["keras_export"]["verdict"] == "met"
    assert rows["keras_export"]["size_verdict"] == "met"  # zoo's file is 8 bytes smaller
    assert rows["from_keras_model"]["verdict"] == "missed"  # zoo's is twice as slow
    assert rows["from_keras_model"]["size_ratio"] == pytest.approx(0.9)
    assert rows["from_keras_model"]["size_verdict"] == "missed"
    assert rows["keras"]["threads"] == "tf (all cores)" and rows["keras"]["mb"] is None
    latency._share_of_peak(list(rows.values()), {1: 10.0, 2: 20.0})
    assert rows["zoo"]["peak_pct"] == pytest.approx(20.0)  # 2 GFLOP/s of 10 on one thread
    assert rows["keras"]["peak_pct"] == pytest.approx(100 * 0.5 / 20.0)  # 4 ms, all cores


def test_instance_spread_is_slowest_over_fastest_interpreter_median():
    from bench import latency

    # Interpreter medians 1.0, 1.2 and 0.8 ms (each interpreter's odd run ignored).
    values = [[1e-3, 1e-3, 9e-3], [1.2e-3, 1.2e-3, 0.1e-3], [0.8e-3, 5e-3, 0.8e-3]]
    assert latency.instance_spread(values) == pytest.approx(1.5)
    assert latency.instance_spread([[1e-3, 2e-3]]) is None  # one interpreter
    assert latency.instance_spread([1e-3, 2e-3]) is None  # its runs, flat


def test_creation_order_compares_first_created_interpreters_with_later_ones():
    from bench import latency

    rng = np.random.default_rng(0)
    load = 1 + 0.3 * rng.random(20)  # per-round load, shared by every interpreter
    first, later = 1.05e-3 * load, 1e-3 * load  # the first-created run 5% slower
    seconds = {"zoo": [first, first, first, later, later, later],
               "keras_export": [later] * 6}
    rows = latency._rows({"model": "m", "threads": 1}, seconds, {"zoo": 1, "keras_export": 1},
                         flops=1.0)
    order = rows[-1]
    assert order["export"] == "zoo: first 3 created / last 3" and order["instances"] == 6
    assert order["ratio"] == pytest.approx(1.05) and order["ratio_low"] <= 1.05 <= order["ratio_high"]
    assert "target" not in order and "verdict" not in order  # a property of the runtime
    assert rows[0]["spread"] == pytest.approx(1.05)  # zoo's slowest / fastest interpreter
    latency._share_of_peak(rows, {1: 10.0})  # the creation-order row has no GFLOP/s to share
    assert "peak_pct" not in order


def test_a_failing_export_is_recorded_not_raised(monkeypatch):
    from bench import latency

    def broken(*args):
        raise RuntimeError("converter says no\nmore detail")

    monkeypatch.setattr(latency, "EXPORTERS", {"zoo": lambda *a: b"flat", "keras_export": broken})
    files = latency._flatbuffers(None, "none", None)
    assert files == {"zoo": b"flat", "keras_export": "RuntimeError: converter says no"}


def test_matmul_peak_is_a_positive_rate():
    from bench import latency

    assert 0.1 < latency.matmul_peak(threads=1, size=128, calls=2) < 1e5


def test_readme_tables_say_when_and_how_each_was_measured():
    from bench import readme
    from zoo.utils import versions

    versions = versions()  # what `python -m bench` records
    row = {"model": "m", "ratio": 0.91, "ratio_low": 0.85, "ratio_high": 1.02, "target": 1.0,
           "verdict": "within noise"}
    text = readme.bench_tables({
        "quick": False, "versions": versions, "date": "2026-11-26",
        "benchmarks": {"precision": [row], "build": [{"model": "m", "build_s": 1.0}]},
        "measured": {"precision": {"date": "2026-11-26", "note": "shared, under load"},
                     "build": {"date": "2026-11-23", "note": ""}}})
    assert text.startswith(f"Measured on {versions['cpu_count']} CPU cores")
    assert f"TensorFlow {versions['packages']['tensorflow']}," in text
    assert "**precision**\n\nMeasured 2026-11-26; shared, under load.\n\n" in text
    assert "**build**\n\nMeasured 2026-11-23.\n\n" in text
    assert "| m | 0.91 [0.85, 1.02] | 1 | within noise |" in text


def test_build_alternates_zoo_and_keras_builds_and_reports_the_interval(monkeypatch):
    from bench import build

    calls = []

    def measure(name, anchor=False):
        calls.append(name)
        return {"seconds": 1.0 if anchor else 2.0 + len(calls) / 100, "peak_mib": 40.0}

    monkeypatch.setattr(build, "_measure", measure)
    lenet, mobilenet = build.run(quick=True)
    assert calls == ["lenet5", "mobilenet_v2", "MobileNetV2", "MobileNetV2", "mobilenet_v2"]
    assert "time_ratio" not in lenet and mobilenet["build_s"] == pytest.approx(2.035)
    assert mobilenet["time_ratio_low"] <= mobilenet["time_ratio"] <= mobilenet["time_ratio_high"]
    assert mobilenet["time_ratio"] == pytest.approx(1.0 / 2.035)
