"""Build time and peak memory of zoo.build at the default input, per model.

Each build runs in a fresh subprocess that imports the libraries, resets the
kernel's peak-RSS mark (/proc/self/clear_refs), builds, and reports the peak
resident memory above what it held before the build. Where keras.applications
has the model, its build is measured the same way.
"""

import json
import subprocess
import sys

import zoo

# zoo name: keras.applications constructor name
ANCHORS = {
    "vgg16": "VGG16", "vgg19": "VGG19", "resnet50": "ResNet50", "resnet101": "ResNet101",
    "resnet152": "ResNet152", "mobilenet": "MobileNet", "mobilenet_v2": "MobileNetV2",
    **{f"efficientnet_b{i}": f"EfficientNetB{i}" for i in range(8)},
}
QUICK_MODELS = ("lenet5", "resnet18", "mobilenet_v2")

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
        ours = _measure(name)
        row = {"model": name, "build_s": ours["seconds"], "peak_mib": ours["peak_mib"]}
        if name in ANCHORS:
            theirs = _measure(ANCHORS[name], anchor=True)
            row.update(anchor_build_s=theirs["seconds"], anchor_peak_mib=theirs["peak_mib"],
                       time_ratio=theirs["seconds"] / ours["seconds"])
        rows.append(row)
    return rows
