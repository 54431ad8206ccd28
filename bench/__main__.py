"""Runs the benchmarks: `python -m bench [--quick] [--only=a,b]`.

Prints one table per benchmark (ratios > 1 favour the zoo, or the harness
feature being measured, over the anchor timed in the same run) and writes
every figure, with the library versions and settings, to bench/results.json.
"""

import importlib
import json
import os
import time

from absl import app, flags

from bench.tables import format_table
from zoo.utils import versions, write_json

# benchmark name: module in bench/ with run(quick) -> list of row dicts
BENCHMARKS = {
    "throughput": "bench.throughput",
    "pipeline": "bench.pipeline",
    "latency": "bench.latency",
    "accuracy": "bench.accuracy",
    "precision": "bench.precision",
    "build": "bench.build",
}

FLAGS = flags.DEFINE_bool("quick", False, "Tiny settings: a run of a few minutes on 2 cores.")
ONLY = flags.DEFINE_list("only", [], f"Benchmarks to run (default all): {', '.join(BENCHMARKS)}.")
OUTPUT = flags.DEFINE_string("output", os.path.join(os.path.dirname(__file__), "results.json"),
                             "Where to write the results JSON.")


def _validate_only(names):
    unknown = sorted(set(names) - set(BENCHMARKS))
    return not unknown


flags.register_validator("only", _validate_only,
                         message=f"--only takes names from: {', '.join(BENCHMARKS)}.")


def main(argv):
    del argv
    names = ONLY.value or list(BENCHMARKS)
    results = {"quick": FLAGS.value, "versions": versions(),
               "date": time.strftime("%Y-%m-%d"), "benchmarks": {}}
    if ONLY.value and os.path.exists(OUTPUT.value):
        # --only refreshes those benchmarks and keeps the others' figures.
        with open(OUTPUT.value) as f:
            previous = json.load(f)
        if previous.get("quick") == FLAGS.value:
            results["benchmarks"] = previous["benchmarks"]
    for name in names:
        start = time.perf_counter()
        rows = importlib.import_module(BENCHMARKS[name]).run(FLAGS.value)
        results["benchmarks"][name] = rows
        print(f"\n== {name} ({time.perf_counter() - start:.0f} s)\n{format_table(rows)}", flush=True)
        write_json(OUTPUT.value, results)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
