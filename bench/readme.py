"""Regenerates the README's tables: `python -m bench.readme [--check]`.

The model table comes from zoo.model_info, the performance tables from
bench/results.json (written by `python -m bench`) and the image-synthesis
table from bench/results_synthesis.json (`python -m bench.synthesis`); none
is typed by hand.
Each table sits between `<!-- NAME:start -->` and `<!-- NAME:end -->` markers.
"""

import json
import os
import re
import sys

import zoo
from bench.tables import cell, display, markdown_table
from zoo.utils import write_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
RESULTS = os.path.join(ROOT, "bench", "results.json")
SYNTHESIS_RESULTS = os.path.join(ROOT, "bench", "results_synthesis.json")


def models_table():
    rows = []
    for name in zoo.list_models():
        info = zoo.model_info(name)
        rows.append((f"`{name}`", info["task"], "x".join(map(str, info["input_shape"])),
                     f"{info['params']:,}", cell(info["flops"] / 1e9),
                     "yes" if info["imagenet_weights"] else "no", info["paper"]))
    return markdown_table(("model", "task", "input", "params", "GFLOPs", "ImageNet weights",
                           "paper"), rows)


def _measured(results, name):
    """'Measured <date>; <note>.' under a table, when the results say."""
    measured = results.get("measured", {}).get(name)
    if not measured:
        return ""
    return f"\n\nMeasured {measured['date']}" + (f"; {measured['note']}" if measured["note"] else "") + "."


def bench_tables(results):
    versions = results["versions"]
    # Each table says when it was measured (`--only` refreshes some of them).
    when = "" if "measured" in results else f" {results['date']}"
    # zoo.utils.versions() lists packages under "packages" (older results: flat).
    packages, cpus = versions.get("packages", versions), versions.get("cpu_count", versions.get("cpus"))
    parts = [f"Measured{when} on {cpus} CPU cores ({versions['machine']}), "
             f"TensorFlow {packages['tensorflow']}, Keras {packages['keras']}"
             f"{', quick settings' if results['quick'] else ''}. "
             "Regenerate with `python -m bench && python -m bench.readme`."]
    for name, rows in results["benchmarks"].items():
        if not rows:
            continue
        parts.append(f"**{name}**{_measured(results, name)}\n\n" + markdown_table(*display(rows)))
    return "\n\n".join(parts)


def synthesis_table(results):
    """The image-synthesis bars and verdicts (bench/synthesis.py's rows)."""
    versions = results["versions"]
    note = f"; {results['note']}" if results.get("note") else ""
    load = results["load_average"]
    return (f"Measured {results['date']} on {versions['cpu_count']} CPU cores (1-minute load average "
            f"{load['start']:.1f} at the start, {load['end']:.1f} at the end){note}"
            f"{', quick settings' if results['quick'] else ''}; seconds are wall time, the model's "
            "build included. Regenerate with `python -m bench.synthesis && python -m bench.readme`.\n\n"
            + markdown_table(*display(results["rows"])))


def replace_section(text, name, body):
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"README.md has no <!-- {name}:start --> ... <!-- {name}:end --> markers.")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def render(text):
    text = replace_section(text, "models", models_table())
    if os.path.exists(RESULTS):
        with open(RESULTS) as f:
            text = replace_section(text, "bench", bench_tables(json.load(f)))
    if os.path.exists(SYNTHESIS_RESULTS):
        with open(SYNTHESIS_RESULTS) as f:
            text = replace_section(text, "synthesis", synthesis_table(json.load(f)))
    return text


def main(argv):
    with open(README) as f:
        current = f.read()
    updated = render(current)
    if "--check" in argv:
        if updated != current:
            sys.exit("README.md tables are stale: run `python -m bench.readme`.")
        return
    write_text(README, updated)


if __name__ == "__main__":
    main(sys.argv[1:])
