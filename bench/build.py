"""Build time and peak memory of zoo.build at the default input, per model.

Each build runs in a fresh subprocess that imports the libraries, resets the
kernel's peak-RSS mark (/proc/self/clear_refs), builds, and reports the peak
resident memory above what it held before the build. Where keras.applications
has the model, its build is measured the same way, alternating with the zoo's
(`RUNS` of each), and time_ratio = keras.applications time / zoo time comes
with its bootstrap interval.
"""

import json
import statistics
import subprocess
import sys

import zoo
from bench.timing import ratio_columns

# zoo name: keras.applications constructor name
ANCHORS = {
    "vgg16": "VGG16", "vgg19": "VGG19", "resnet50": "ResNet50", "resnet101": "ResNet101",
    "resnet152": "ResNet152", "mobilenet": "MobileNet", "mobilenet_v2": "MobileNetV2",
    **{f"efficientnet_b{i}": f"EfficientNetB{i}" for i in range(8)},
}
QUICK_MODELS = ("lenet5", "mobilenet_v2")  # one anchored pair: every code path
RUNS = 3  # per side, for anchored models (fresh processes: a few seconds each)

_CHILD = """
import json, os, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras, zoo

def status_kib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))

with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets VmHWM, the peak resident set, to the current size
before = status_kib("VmRSS:")
start = time.perf_counter()
if {anchor!r}:
    getattr(keras.applications, {name!r})(weights=None, classifier_activation=None)
else:
    zoo.build({name!r})
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "peak_mib": (status_kib("VmHWM:") - before) / 1024}}))
"""


def _measure(name, anchor=False):
    out = subprocess.run([sys.executable, "-c", _CHILD.format(name=name, anchor=anchor)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run(quick):
    names = [n for n in QUICK_MODELS if n in zoo.list_models()] if quick else zoo.list_models()
    rows = []
    for name in names:
        if name not in ANCHORS:
            ours = _measure(name)
            rows.append({"model": name, "build_s": ours["seconds"], "peak_mib": ours["peak_mib"]})
            continue
        measures = {"ours": lambda: _measure(name),
                    "theirs": lambda: _measure(ANCHORS[name], anchor=True)}
        runs = {side: [] for side in measures}
        for run_ in range(2 if quick else RUNS):  # A B, B A, ... as bench.timing.interleaved
            for side in list(measures)[::1 if run_ % 2 == 0 else -1]:
                runs[side].append(measures[side]())
        ours, theirs = runs["ours"], runs["theirs"]
        median = lambda runs, key: statistics.median(r[key] for r in runs)  # noqa: E731
        rows.append({"model": name, "build_s": median(ours, "seconds"),
                     "peak_mib": median(ours, "peak_mib"),
                     "anchor_build_s": median(theirs, "seconds"),
                     "anchor_peak_mib": median(theirs, "peak_mib"),
                     **ratio_columns([r["seconds"] for r in theirs], [r["seconds"] for r in ours],
                                     name="time_ratio")})
    return rows
