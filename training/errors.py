"""The failures a run is expected to meet (bad data, weights or flags, a NaN
loss, an unavailable strategy): each carries one sentence a user can act on.

The CLI prints such an error as one `zoo-train: ...` line and exits with 2;
anything else is a bug and keeps its traceback.
"""


class HarnessError(ValueError):
    """An expected failure of a run, with a message that says what to do."""


class DataError(HarnessError):
    """A dataset that cannot be loaded, trained on or evaluated."""


class WeightsError(HarnessError):
    """Pretrained weights that cannot be had or do not fit the model."""
