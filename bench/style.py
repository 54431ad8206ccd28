"""Fast style transfer on a phone's budget: `python -m bench.style [--size=256] [--runs=30]`.

zoo's style_net (Johnson et al.'s network, fresh weights: latency does not depend
on them) exported by `export.export_model` to float32 TFLite, then timed at batch 1:
LiteRT with XNNPACK on --threads threads against the Keras model as a compiled
tf.function (TensorFlow's own thread pools, all cores), interleaved (bench.timing).
ratio = Keras's time / TFLite's (> 1: the export is faster), with its bootstrap 90%
interval; fps = frames per second TFLite stylises; the export's own pixel parity on
three bundled photos is reported beside it.
"""

import tempfile

import numpy as np
from absl import app, flags

import export
import zoo
from bench.tables import format_table
from bench.timing import interleaved, ratio_columns
from export.report import keras_runner, tflite_runner
from zoo import cli, synthesis
from zoo.flops import count_flops

SIZE = flags.DEFINE_integer("size", 256, "Input height and width (a multiple of 4).", lower_bound=8)
RUNS = flags.DEFINE_integer("runs", 30, "Timed runs of each.", lower_bound=2)
THREADS = flags.DEFINE_integer("threads", 2, "XNNPACK threads of the TFLite interpreter.",
                               lower_bound=1)
PHOTOS = ("chelsea", "coffee", "astronaut")  # parity's held-out images


def run(size=256, runs=30, threads=2):
    """One row: the style net's batch-1 latency, TFLite against Keras, at `size` pixels."""
    model = zoo.build("style_net", input_shape=(size, size, 3))
    photos = np.stack([synthesis.load_image(name, (size, size)) for name in PHOTOS])
    with tempfile.TemporaryDirectory() as folder:
        result = export.export_model(model, folder, formats="tflite", latency_runs=0,
                                     held_out=photos, name="style_net")
        with open(result["tflite"]["path"], "rb") as f:
            flatbuffer = f.read()
    times = interleaved(runs, tflite=tflite_runner(flatbuffer, threads), keras=keras_runner(model))
    tflite_ms, keras_ms = (1000 * times[k]["median"] for k in ("tflite", "keras"))
    parity = result["tflite"]["parity"]["outputs"][0]
    return [{"model": "style_net", "size": f"{size}x{size}", "threads": threads,
             "tflite_ms": tflite_ms, "keras_ms": keras_ms, "fps": 1000 / tflite_ms,
             **ratio_columns(times["keras"], times["tflite"]),
             "gflops": count_flops(model) / 1e9, "mb": len(flatbuffer) / 1e6,
             "parity_max_px": parity["max_abs_error"], "times": times}]


def main(argv):
    del argv
    cli.quiet()  # the table is the report
    print(format_table(run(SIZE.value, RUNS.value, THREADS.value)))


if __name__ == "__main__":
    app.run(main)
