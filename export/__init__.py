"""Export zoo models to SavedModel and TFLite (LiteRT) for phones, with parity
checks against Keras, a report and a metadata sidecar.

    import export
    report = export.export_model("resnet18", "out/", input_shape=(32, 32, 3))
    report = export.export_model(model, "out/", quantize="int8", representative_data=images)

Command line: `python -m export --model=... --output_dir=...` (or `zoo-export`).
"""

from export.logs import quiet_tensorflow

quiet_tensorflow()  # first: TensorFlow's start-up lines are noise

# isort: split
from export.errors import ExportError, FlexOpsError, ParityError  # noqa: E402
from export.pipeline import FORMATS, export_model  # noqa: E402
from export.source import load_model  # noqa: E402
from export.tflite import QUANTIZATIONS, convert, op_counts  # noqa: E402

__all__ = ["FORMATS", "QUANTIZATIONS", "ExportError", "FlexOpsError", "ParityError",
           "convert", "export_model", "load_model", "op_counts"]
