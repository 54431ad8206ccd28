"""Each benchmark runs end to end on tiny settings; its output parses and its
ratios are finite. No timing is asserted: the numbers belong in README tables."""

import json
import math
import subprocess
import sys

import pytest

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
