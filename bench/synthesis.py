"""Image synthesis against issue 14's bars: `python -m bench.synthesis [--quick]`.

Four measurements on randomly initialised networks (weights=None, seeded: no
download) and a LeNet-5 trained here, each row with its bar and a verdict:

- texture: Gram matching of gravel from noise at 128 px on a zoo VGG16,
  100 L-BFGS-B steps. Bar: the style cost falls by >= 99% in "well under a
  minute", taken as < 30 s wall time for the whole call (the VGG built, the
  cost traced, the steps run) on this machine's 2 cores.
- inversion: chelsea at 128 px from noise, matching one VGG16 layer at a
  time, from block1 to block5 (100 steps each, the default TV prior). Bar: the
  reconstruction's PSNR falls with depth (never rises by more than 0.5 dB from
  one layer to the next) and the shallowest layer reconstructs almost exactly
  (PSNR >= 35 dB).
- style transfer: chelsea (content, 128 px) + brick (style), every default
  of zoo.synthesis.style_transfer (random VGG19, Gatys et al.'s layers, alpha =
  beta = tv_weight = 1 normalised, 100 L-BFGS-B steps from the content image).
  Bar: the style cost falls by >= 90%, the content cost stays small, < 60 s.
  "Small", in the objective's own unit: the content cost J_content(C, G) is
  at most 10% of a blank image's, 1/2 ||a(C)||^2 (the unit style_transfer
  normalises it by; the style term's bar, a fall of 90%, is the same 10% of
  its start). The row also gives it relative to the brick image's own
  J_content(C, S): on random features brick's is only ~0.27 of a blank
  image's (random deep features tell the cat from bricks poorly), so that
  ratio looks larger. Two more rows, alpha 3 and 10, show the trade-off.
- class visualisation: a LeNet-5 trained on 1500 of scikit-learn's digits
  (5 epochs, 32 px), then each of the ten classes' images (100 steps, jitter 2
  at 32 px, as docs/synthesis/make_pictures.sh). Bar: every image is
  classified as its class with softmax probability >= 0.99.

Time bars are judged on wall time; on cores shared with other jobs, a wall
time over the limit whose CPU time spread over every core is within it reads
"unclear (load)" (see `_time_verdict`), and the table shows both times.

ImageNet rows (style transfer with weights="imagenet") are added when the VGG19
weights file is already in ~/.keras/models (the bench never downloads).

Not in `python -m bench` (which tests/test_bench.py runs on every change): the
full run takes a few minutes. Results go to bench/results_synthesis.json
(--quick: bench/results_synthesis-quick.json, tiny sizes for tests, so quick
figures never overwrite the README's table, which bench.readme renders from
the full file).
"""

import os
import time

import numpy as np

from bench.tables import format_table
from zoo.utils import versions, write_json

HERE = os.path.dirname(__file__)
SEED = 0
INVERTED_LAYERS = ("block1_conv2_relu", "block2_conv2_relu", "block3_conv3_relu", "block4_conv3_relu",
                   "block5_conv3_relu")
# The settings of a full run, and the tiny ones of --quick (seconds; not the numbers).
SETTINGS = {
    False: dict(texture_size=128, invert_size=128, style_size=128, steps=100, layers=INVERTED_LAYERS,
                classes=10, class_steps=100, train_images=1500, epochs=5, alphas=(1.0, 3.0, 10.0)),
    True: dict(texture_size=32, invert_size=32, style_size=32, steps=8,
               layers=(INVERTED_LAYERS[0], INVERTED_LAYERS[2]), classes=2, class_steps=5,
               train_images=300, epochs=1, alphas=(1.0,)),
}
# The bars, as data: what each verdict compares.
TEXTURE_DROP, TEXTURE_SECONDS = 0.99, 30.0
SHALLOW_PSNR, PSNR_RISE = 35.0, 0.5
STYLE_DROP, CONTENT_VS_BLANK, STYLE_SECONDS = 0.90, 0.10, 60.0
CLASS_PROBABILITY = 0.99
IMAGENET_VGG19 = os.path.expanduser("~/.keras/models/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5")


def default_output(quick):
    return os.path.join(HERE, "results_synthesis-quick.json" if quick else "results_synthesis.json")


def _verdict(met):
    return "met" if met else "missed"


def _time_verdict(met_otherwise, seconds, cpu_seconds, limit):
    """The verdict of a bar with a time limit, on cores shared with other jobs:
    "met" when the wall time is within it; when it is not but the process's CPU
    time spread over every core would be (the least wall time the call could
    take on idle cores), "unclear (load)": the load, not the code, may be what
    missed it; else "missed"."""
    if not met_otherwise or cpu_seconds / os.cpu_count() >= limit:
        return "missed"
    return "met" if seconds < limit else "unclear (load)"


def _reduction(history, name):
    """1 - final / start of a cost."""
    return 1.0 - float(history[name][-1]) / float(history[name][0])


def _timed(function, *args, **kwargs):
    """(result, wall seconds, CPU seconds of this process) of one call, the
    model's build and tracing included. CPU time says how much of the wall
    time other jobs on the cores took."""
    start, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start, time.process_time() - cpu


def texture(settings):
    import keras

    from zoo import synthesis

    size, steps = settings["texture_size"], settings["steps"]
    keras.utils.set_random_seed(SEED)
    example = synthesis.load_image("gravel", size)
    result, seconds, cpu = _timed(synthesis.texture, example, size, model="vgg16", steps=steps, seed=SEED)
    drop = _reduction(result.history, "style")
    return {"test": f"texture, gravel {size} px, {steps} steps", "model": "vgg16, random",
            "result": f"style cost -{100 * drop:.2f}%", "seconds": seconds, "cpu_seconds": cpu,
            "bar": f">= {100 * TEXTURE_DROP:g}% in < {TEXTURE_SECONDS:g} s",
            "verdict": _time_verdict(drop >= TEXTURE_DROP, seconds, cpu, TEXTURE_SECONDS),
            "figures": {"style_start": float(result.history["style"][0]),
                        "style_final": float(result.history["style"][-1]), "style_reduction": drop,
                        "evaluations": len(result.history["loss"])}}


def inversion(settings):
    import keras
    import tensorflow as tf

    from zoo import synthesis

    size, steps, layers = settings["invert_size"], settings["steps"], settings["layers"]
    image = synthesis.load_image("chelsea", size)
    psnr, seconds = {}, {}
    for layer in layers:
        keras.utils.set_random_seed(SEED)  # the same random VGG16 for every layer
        result, seconds[layer], _ = _timed(synthesis.invert, image, layer, model="vgg16", steps=steps, seed=SEED)
        psnr[layer] = float(tf.image.psnr(result.image, image, 255.0))
    values = list(psnr.values())
    falls = all(deeper <= shallower + PSNR_RISE for shallower, deeper in zip(values, values[1:]))
    short = [layer.split("_")[0] + "_" + layer.split("_")[1] for layer in layers]
    return {"test": f"inversion, chelsea {size} px, {steps} steps per layer", "model": "vgg16, random",
            "result": "PSNR " + ", ".join(f"{name} {value:.1f}" for name, value in zip(short, values)) + " dB",
            "seconds": sum(seconds.values()),
            "bar": f"falls with depth (rise <= {PSNR_RISE:g} dB), first >= {SHALLOW_PSNR:g} dB",
            "verdict": _verdict(falls and values[0] >= SHALLOW_PSNR),
            "figures": {"psnr": psnr, "seconds": seconds}}


def _content_references(content, brick, weights):
    """The random VGG19 style_transfer builds after set_random_seed(SEED) (same
    seed, same build), and the content layer's activation of the content image,
    J_content(C, brick) and J_content(C, 0)."""
    import keras

    from zoo import synthesis

    keras.utils.set_random_seed(SEED)
    layer = synthesis.VGG_CONTENT_LAYER
    extractor = synthesis.feature_extractor("vgg19", [layer, *synthesis.VGG_STYLE_LAYERS[:1]], weights=weights)
    brick_here = np.repeat(synthesis.load_image(brick, content.shape[:2]), 3, axis=-1)
    target = extractor(content[None], training=False)[layer]
    return (extractor, target, float(synthesis.content_cost(target, extractor(brick_here[None])[layer])),
            float(synthesis.content_cost(target, 0.0 * target)))


def style(settings, weights=None):
    """One row per alpha in settings["alphas"] (the first: the default, 1)."""
    import keras

    from zoo import synthesis

    size, steps = settings["style_size"], settings["steps"]
    content, brick = synthesis.load_image("chelsea", size), synthesis.load_image("brick", size)
    extractor, target, brick_cost, blank_cost = _content_references(content, "brick", weights)
    style_layer, height, width = synthesis.VGG_STYLE_LAYERS[0], *content.shape[:2]
    rows = []
    for alpha in settings["alphas"]:
        keras.utils.set_random_seed(SEED)
        result, seconds, cpu = _timed(synthesis.style_transfer, content, brick, weights=weights, steps=steps,
                                      alpha=alpha)
        history = result.history
        on_content = extractor(content[None], training=False)[style_layer]
        on_brick = extractor(np.repeat(brick, 3, axis=-1)[None], training=False)[style_layer]
        if not np.isclose(float(synthesis.style_cost(on_brick, on_content)), history[f"style:{style_layer}"][0],
                          rtol=1e-3):
            raise RuntimeError("bench.synthesis rebuilt a different VGG19 than style_transfer used.")
        content_cost = float(synthesis.content_cost(
            target, extractor(result.image[None], training=False)[synthesis.VGG_CONTENT_LAYER]))
        drop = _reduction(history, "style")
        vs_blank, vs_brick = content_cost / blank_cost, content_cost / brick_cost
        met = drop >= STYLE_DROP and vs_blank <= CONTENT_VS_BLANK
        rows.append({
            "test": f"style, chelsea + brick {height}x{width} px, {steps} steps, alpha {alpha:g}"
                    + (" (default)" if alpha == 1 else ""),
            "model": f"vgg19, {weights or 'random'}",
            "result": f"style cost -{100 * drop:.1f}%, content cost {vs_blank:.3f} of a blank image's "
                      f"({vs_brick:.2f} of brick's)",
            "seconds": seconds, "cpu_seconds": cpu,
            "bar": f">= {100 * STYLE_DROP:g}%, content <= {CONTENT_VS_BLANK:g}, < {STYLE_SECONDS:g} s",
            "verdict": _time_verdict(met, seconds, cpu, STYLE_SECONDS),
            "figures": {"alpha": alpha, "style_reduction": drop, "style_start": float(history["style"][0]),
                        "style_final": float(history["style"][-1]), "content_final": content_cost,
                        "content_of_brick": brick_cost, "content_of_blank": blank_cost,
                        "content_vs_blank": vs_blank, "content_vs_brick": vs_brick,
                        "evaluations": len(history["loss"])}})
    return rows


def _digits_lenet5(settings):
    """(LeNet-5 trained on the first `train_images` digits at 32 px, its accuracy on the rest)."""
    import keras
    import tensorflow as tf
    from sklearn.datasets import load_digits

    import zoo

    keras.utils.set_random_seed(SEED)
    data = load_digits()
    images = tf.image.resize(data.images[..., None] * (255.0 / 16.0), (32, 32)).numpy()
    n = settings["train_images"]
    model = zoo.build("lenet5", num_classes=10, input_shape=(32, 32, 1))
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(images[:n], data.target[:n], epochs=settings["epochs"], batch_size=64, verbose=0)
    return model, float(model.evaluate(images[n:], data.target[n:], verbose=0)[1])


def class_visualization(settings):
    import tensorflow as tf

    from zoo import synthesis

    model, accuracy = _digits_lenet5(settings)
    steps, probability, seconds = settings["class_steps"], {}, {}
    for digit in range(settings["classes"]):
        result, seconds[digit], _ = _timed(synthesis.class_visualization, model, digit, steps=steps, jitter=2,
                                        seed=digit)
        probability[digit] = float(tf.nn.softmax(model(result.image[None], training=False))[0, digit])
    lowest = min(probability.values())
    return {"test": f"class visualisation, {len(probability)} digits, {steps} steps",
            "model": f"lenet5, digits (held-out accuracy {accuracy:.3f})",
            "result": f"lowest probability {lowest:.4f}", "seconds": sum(seconds.values()),
            "bar": f"every class >= {CLASS_PROBABILITY:g}", "verdict": _verdict(lowest >= CLASS_PROBABILITY),
            "figures": {"probability": probability, "seconds": seconds, "held_out_accuracy": accuracy}}


def run(quick, output, note=""):
    """Every measurement; writes `output` (the JSON, with `note` on how loaded the
    machine was) and returns the rows."""
    settings = SETTINGS[quick]
    measurements = [texture, inversion, style, class_visualization]
    if os.path.exists(IMAGENET_VGG19):
        measurements.insert(3, lambda settings: style(dict(settings, alphas=(1.0,)), weights="imagenet"))
    rows, load = [], os.getloadavg()[0]  # other jobs on the cores slow every figure in seconds
    for measure in measurements:
        measured = measure(settings)
        measured = measured if isinstance(measured, list) else [measured]
        rows += measured
        print(format_table(measured), flush=True)
    write_json(output, {"quick": quick, "date": time.strftime("%Y-%m-%d"), "note": note,
                        "load_average": {"start": load, "end": os.getloadavg()[0]},
                        "versions": versions(), "settings": settings, "rows": rows})
    return rows


if __name__ == "__main__":
    from absl import app, flags

    QUICK = flags.DEFINE_bool("quick", False, "Tiny sizes and a few steps: seconds, not the numbers.")
    OUTPUT = flags.DEFINE_string("output", None, "Where to write the results JSON (default: "
                                 "bench/results_synthesis.json; --quick: bench/results_synthesis-quick.json).")
    NOTE = flags.DEFINE_string("note", "", "How the machine was during the run (e.g. 'shared, under "
                               "load'): recorded and shown under the README table.")

    def main(argv):
        del argv
        run(QUICK.value, OUTPUT.value or default_output(QUICK.value), NOTE.value)

    app.run(main)
