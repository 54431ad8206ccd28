"""bench.detection's seed summary and --seeds parsing (the bench itself trains for
minutes: `python -m bench.detection --quick` runs it)."""

import math

import pytest

from bench.detection import parse_seeds, ratio_summary


def test_ratio_summary_takes_min_median_max_of_the_per_seed_ratios():
    summary = ratio_summary([0.99, 0.80, 0.90], [0.90, 1.00, 0.90])
    assert summary["ratios"] == pytest.approx([1.1, 0.8, 1.0])
    assert (summary["min"], summary["median"], summary["max"]) == pytest.approx((0.8, 1.0, 1.1))
    assert summary["seeds"] == 3 and summary["verdict"] == "within noise"


@pytest.mark.parametrize("zoo, keras_cv, expected", [
    ([0.9, 0.95], [0.9, 0.9], "met"),  # the worst seed reaches 1.0
    ([0.8, 0.85], [0.9, 0.9], "missed"),  # even the best falls short
    ([0.5], [0.0], "met"),  # keras-cv found nothing: zoo's ratio is inf
])
def test_ratio_summary_verdict(zoo, keras_cv, expected):
    assert ratio_summary(zoo, keras_cv)["verdict"] == expected


def test_a_seed_where_neither_finds_anything_is_left_out():
    summary = ratio_summary([0.0, 0.9], [0.0, 1.0])
    assert summary["ratios"] == [None, 0.9] and summary["seeds"] == 1
    assert summary["median"] == 0.9 and summary["verdict"] == "missed"
    assert ratio_summary([0.0], [0.0])["verdict"] is None
    assert math.isinf(ratio_summary([0.3], [0.0])["max"])


def test_parse_seeds():
    assert parse_seeds("0,1,2") == (0, 1, 2)
    assert parse_seeds(" 7") == (7,)
    for bad in ("", "0,x", "1,1", "-1", "0,,1", "1.5"):
        with pytest.raises(ValueError, match=f"--seeds must be .* got {bad!r}"):
            parse_seeds(bad)
