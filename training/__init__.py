"""The training harness: `zoo-train` / `python -m training.train`."""

from training.logs import quiet_tensorflow

quiet_tensorflow()
