"""The training harness: `zoo-train` / `python -m training.train`."""

# export quiets TensorFlow's start-up lines as it loads (export/logs.py); importing
# it first does the same for the harness.
import export  # noqa: F401
