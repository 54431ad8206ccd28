"""Export zoo models to SavedModel and TFLite (LiteRT) for phones, with parity
checks against Keras, a report and a metadata sidecar.

    import export
    report = export.export_model("resnet18", "out/", input_shape=(32, 32, 3))
    report = export.export_model(model, "out/", quantize="int8", representative_data="digits")

Command line: `python -m export --model=... --output_dir=...` (or `zoo-export`).
"""

import training  # noqa: F401  (first: it quiets TensorFlow's start-up lines before TF loads)

# isort: split
from export.errors import ExportError, FlexOpsError, ParityError
from export.pipeline import FORMATS, export_model
from export.source import load_model
from export.tflite import QUANTIZATIONS, convert, op_counts

__all__ = ["FORMATS", "QUANTIZATIONS", "ExportError", "FlexOpsError", "ParityError",
           "convert", "export_model", "load_model", "op_counts"]
