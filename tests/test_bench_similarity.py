"""bench/similarity.py end to end on its quick settings: both runs, the JSON, the picture."""

import json
import math

import matplotlib.pyplot as plt
import pytest

from bench import similarity


@pytest.mark.slow  # two harness runs (one epoch each) and a picture: about 25 s on idle cores
def test_quick_similarity_benchmark(tmp_path):
    rows = similarity.run(quick=True, output=str(tmp_path / "results.json"))
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["quick"] and saved["rows"] == json.loads(json.dumps(rows))
    held_out, unseen = rows
    assert held_out["one_shot_way"] == 10 and unseen["one_shot_way"] == 3
    for row in rows:
        assert all(0.0 <= row[k] <= 1.0 for k in similarity.NUMBERS)
        assert all(0.0 <= row[f"pixels_{k}"] <= 1.0 for k in similarity.NUMBERS)
        assert math.isclose(row["ratio_roc_auc"], row["roc_auc"] / row["pixels_roc_auc"])
    # The pixels of digits are a fixed baseline: ROC AUC about 0.88 on either test set.
    assert 0.8 < held_out["pixels_roc_auc"] < 0.95 and 0.7 < unseen["pixels_roc_auc"] < 0.95
    assert plt.imread(tmp_path / "results_roc.png").shape[:2] == (3.2 * 80, 8.0 * 80)
