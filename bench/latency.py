"""Batch-1 latency of zoo's TFLite export against the other ways to export the
same weights, float32 and int8, on 1 and 2 XNNPACK threads; file sizes; and
achieved GFLOP/s against this machine's measured matmul peak.

Exports of one model (fresh weights, which latency does not depend on):

- zoo: `export.export_model` (SavedModel, then the TFLite converter; int8
  calibrated on digits). Its parity check is the export tests' business:
  fresh logits are near ties, so int8 top-1 agreement says nothing here and
  the check is set to pass.
- keras_export: Keras' own `model.export(path, format="litert")`, with the
  converter's documented full-integer settings for int8.
- from_keras_model: `tf.lite.TFLiteConverter.from_keras_model` defaults (the
  same int8 settings).
- keras: no export, the Keras model as a `tf.function` (TensorFlow's own
  thread pools, all cores), timed beside the 2-thread float32 group.

Each group (model, quantization, threads) is timed interleaved, one run =
`repeat` invokes (a few ms, so timer noise does not dominate LeNet-5's
microseconds), through INSTANCES interpreters per file. Interpreters are
not interchangeable: two of the very same file differ (where their buffers
land), and those created later in the process may run faster (a one-off check,
mobilenet_v2 at 96 px: whichever of two files' interpreters were created
second ran about 5% faster). One interpreter per file, created zoo first, had
read that as zoo's file being slower. So the interpreters are created in
rounds, the exports' order rotated each round (every export in every creation
position equally often), and the interval resamples interpreters as well as
runs. Two figures make those effects part of every run rather than one-off
claims:

- spread = an export's slowest interpreter's median time / its fastest's
  (empty for keras: one tf.function, no interpreters);
- a creation-order row per group ("zoo: first 3 created / last 3"): zoo's
  interpreters created in the first half of the rounds against those created
  in the second half, the same file, timed in the same interleaved runs (so it
  costs no run time), ratio = first-created time / later-created time with its
  interval and no target: > 1 means later interpreters run faster. Each half
  holds zoo in every position of a round once.

ratio (export rows) = the other export's time / zoo's time, with its bootstrap
90% interval; goal: >= 1.0 (zoo at least as fast), within noise.
size_ratio = the other file's bytes / zoo's (goal >= 1.0: zoo no larger).
gflops = the model's FLOPs (zoo.flops; int8 counts its multiply-adds the
same) / the median time; peak_pct = that share of a float32 matmul's rate on
the same number of threads (numpy's BLAS, best of several calls at the start
and at the end of the run, so that one burst of load does not set it), the
rows marked "matmul peak". An export that fails on this stack gets a row saying why.
"""

import contextlib
import io
import os
import tempfile

import numpy as np
import tensorflow as tf
from threadpoolctl import threadpool_limits

import export
import zoo
from bench.timing import interleaved, ratio_columns, timed
from export import report, source
from training.data import arrays
from zoo.flops import count_flops

# model, input size (full run), input size (quick run)
MODELS = (("lenet5", 32, 32), ("mobilenet_v2", 224, 96), ("efficientnet_b0", 224, 96))
QUICK_MODELS = ("lenet5",)  # every code path in well under a minute
QUANTIZATIONS = ("none", "int8")
THREADS = (1, 2)
RUN_SECONDS = 0.005  # one timed run: enough invokes to last about this long
# Interpreters per export, timed side by side: a multiple of the 3 exports, so that the
# rotated creation order puts each export in each position equally often.
INSTANCES = 6
TARGET = 1.0


def _int8_settings(calibration):
    """The converter's full-integer recipe, as TFLiteConverter attributes."""
    return {"optimizations": [tf.lite.Optimize.DEFAULT],
            "representative_dataset": lambda: ([sample[None]] for sample in calibration),
            "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
            "inference_input_type": tf.int8, "inference_output_type": tf.int8}


def _zoo_export(model, quantize, calibration, folder):
    result = export.export_model(model, os.path.join(folder, "zoo"), formats="tflite", quantize=quantize,
                                 representative_data=calibration,
                                 representative_steps=len(calibration), latency_runs=0,
                                 held_out=calibration[:8], parity_threshold=1e-9)
    with open(result["tflite"]["path"], "rb") as f:
        return f.read()


def _keras_export(model, quantize, calibration, folder):
    path = os.path.join(folder, "model.tflite")
    settings = _int8_settings(calibration) if quantize == "int8" else {}
    model.export(path, format="litert", verbose=False, **settings)
    with open(path, "rb") as f:
        return f.read()


def _from_keras_model(model, quantize, calibration, folder):
    del folder
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    for name, value in (_int8_settings(calibration) if quantize == "int8" else {}).items():
        if name == "target_spec":
            for key, spec in value.items():
                setattr(converter.target_spec, key, spec)
        else:
            setattr(converter, name, value)
    return converter.convert()


EXPORTERS = {"zoo": _zoo_export, "keras_export": _keras_export,
             "from_keras_model": _from_keras_model}


def _flatbuffers(model, quantize, calibration):
    """{exporter: TFLite bytes, or the error it raised as a string}."""
    files = {}
    for name, exporter in EXPORTERS.items():
        with tempfile.TemporaryDirectory() as folder, \
                contextlib.redirect_stdout(io.StringIO()):  # the SavedModel step's listing
            try:
                files[name] = exporter(model, quantize, calibration, folder)
            except Exception as error:  # any failure is a finding about the stack
                first = (str(error).strip().splitlines() or [""])[0]
                files[name] = f"{type(error).__name__}: {first}"[:300]
    return files


def matmul_peak(threads, size, calls):
    """GFLOP/s of the best of `calls` float32 size x size matmuls on `threads` threads."""
    a, b = np.random.default_rng(0).standard_normal((2, size, size), dtype=np.float32)
    with threadpool_limits(limits=threads, user_api="blas"):
        a @ b  # warm-up: thread start, page faults
        best = min(timed(lambda: a @ b)[0] for _ in range(calls))
    return 2 * size**3 / best / 1e9


def _repeat(run):
    """Invokes per timed run: enough to last about RUN_SECONDS."""
    run()
    return max(1, round(RUN_SECONDS / min(timed(run)[0] for _ in range(3))))


def _interpreters(files, threads):
    """{export: INSTANCES runners}, created in rounds with the exports' order rotated
    every round: later interpreters run faster, so no export may always come first."""
    names = list(files)
    runners = {name: [] for name in names}
    for round_ in range(INSTANCES):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            runners[name].append(report.tflite_runner(files[name], threads))
    return runners


def _time_group(runners, runs):
    """{name: [instance][run] seconds per invoke} of each name's runners (one per
    instance), all timed interleaved."""
    repeat = _repeat(runners["zoo"][0])

    def repeated(run):
        def many():
            for _ in range(repeat):
                run()
        return many

    times = interleaved(runs, **{f"{name}#{i}": repeated(run) for name, instances in runners.items()
                                 for i, run in enumerate(instances)})
    return {name: [[t / repeat for t in times[f"{name}#{i}"]["values"]] for i in range(len(instances))]
            for name, instances in runners.items()}


def instance_spread(values):
    """The slowest interpreter's median time / the fastest's, of one export's
    [instance][run] seconds, or one instance's runs (None for a single
    instance: nothing to compare)."""
    medians = np.median(np.atleast_2d(np.asarray(values, "float64")), axis=1)
    return float(medians.max() / medians.min()) if len(medians) > 1 else None


def creation_order_row(common, zoo_seconds):
    """The same file's interpreters, created in the first half of the rounds
    against those created in the second: ratio = first-created time / later-created
    time, with its interval and no target (a property of the runtime, not a goal).
    With 3 exports and 6 rounds each half holds zoo in every position of a round once."""
    half = len(zoo_seconds) // 2
    first, later = zoo_seconds[:half], zoo_seconds[len(zoo_seconds) - half:]
    return {**common, "export": f"zoo: first {half} created / last {half}",
            "instances": 2 * half, **ratio_columns(first, later)}


def _rows(common, seconds, sizes, flops):
    """One row per export in a group, each compared with zoo's (peak_pct is
    filled in once the run's peak is known), then zoo's creation-order row."""
    rows = []
    for name, values in seconds.items():
        ms = 1000 * float(np.median(values))
        row = {**common, "export": name, "instances": len(values), "ms": ms,
               "spread": instance_spread(values),
               "mb": sizes[name] / 2**20 if name in sizes else None,
               "gflops": flops / ms / 1e6, "peak_pct": None}
        if name == "keras":
            row["threads"] = "tf (all cores)"
        if name != "zoo":
            row.update(ratio_columns(values, seconds["zoo"], TARGET))
            if name in sizes:
                size_ratio = sizes[name] / sizes["zoo"]
                row.update(size_ratio=size_ratio,
                           size_verdict="met" if size_ratio >= TARGET else "missed")
        rows.append({**row, "seconds_per_invoke": values})
    if np.ndim(seconds["zoo"]) == 2 and len(seconds["zoo"]) >= 2:
        rows.append(creation_order_row(common, seconds["zoo"]))
    return rows


def _share_of_peak(rows, peaks):
    """Fills each row's peak_pct: its GFLOP/s against the peak on its thread count
    (keras runs on TensorFlow's own pools, over all cores: the most threads);
    creation-order rows time no model of their own."""
    for row in (row for row in rows if "gflops" in row):
        row["peak_pct"] = 100 * row["gflops"] / peaks.get(row["threads"], peaks[max(peaks)])


def run(quick):
    runs = 6 if quick else 35  # per interpreter
    peak_size, peak_calls = (1024, 3) if quick else (2048, 10)
    peaks = {t: matmul_peak(t, peak_size, peak_calls) for t in THREADS}
    rows, failures = [], []
    for name, size, quick_size in MODELS:
        if quick and name not in QUICK_MODELS:
            continue
        size = quick_size if quick else size
        channels = zoo.get_entry(name).input_shape[-1]
        model = source.load_model(name, (size, size, channels))
        flops = count_flops(model)
        calibration = arrays("digits", image_shape=(size, size, channels), split="train",
                             value_range=source.value_range_of(model),
                             limit=20 if quick else 100)[0]
        for quantize in QUANTIZATIONS:
            files = _flatbuffers(model, quantize, calibration)
            sizes = {k: len(v) for k, v in files.items() if isinstance(v, bytes)}
            common = {"model": name, "input": size, "quantize": quantize}
            failures += [{**common, "export": k, "error": v} for k, v in files.items()
                         if not isinstance(v, bytes)]
            if "zoo" not in sizes:
                continue
            for threads in THREADS:
                runners = _interpreters({k: files[k] for k in sizes}, threads)
                if quantize == "none" and threads == max(THREADS):
                    runners["keras"] = [report.keras_runner(model)]  # one tf.function: no buffers of its own
                rows += _rows({**common, "threads": threads}, _time_group(runners, runs),
                              sizes, flops)
    peaks = {t: max(peaks[t], matmul_peak(t, peak_size, peak_calls)) for t in THREADS}
    _share_of_peak(rows, peaks)
    peak_rows = [{"model": f"matmul peak ({peak_size}x{peak_size} float32, numpy)", "threads": t,
                  "gflops": peaks[t], "peak_pct": 100.0} for t in THREADS]
    return rows + failures + peak_rows
