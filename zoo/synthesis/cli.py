"""zoo-synthesize: style transfer, texture synthesis, feature inversion,
DeepDream and class visualisation on any zoo model from the command line.

    zoo-synthesize style --content=chelsea --style=brick --out=out.png
    zoo-synthesize texture --style=gravel --size=128 --out=gravel.png
    zoo-synthesize invert --content=astronaut --layers=block2_conv2_relu --out=inverted.png
    zoo-synthesize dream --content=chelsea --model=vgg16 --weights=imagenet --out=dream.png
    zoo-synthesize class --model=runs/lenet5/best.keras --class_index=3 --out=three.png

Images are scikit-image's bundled samples by name (chelsea, brick, astronaut,
gravel, ...) or image files. Shows a progress bar with the costs per step,
then writes the PNG and, beside it (same name, .json), the run's settings and
its first and final costs, both atomically; exits 2 with one line on stderr
for a bad command, flag, image, model or layer.
"""

import inspect
import os
import time

from absl import flags

from zoo import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "The PNG to write; the settings and costs go beside it as .json.")
flags.DEFINE_string("model", "vgg19", "A zoo model name, or a .keras file (e.g. a zoo-train run's best.keras).")
flags.DEFINE_string("weights", None, "A zoo model's weights: imagenet or a weights file (default: random).")
flags.DEFINE_string("content", "chelsea", "style: the content image; invert, dream: the image. "
                    "A scikit-image sample name or an image file.")
flags.DEFINE_string("style", "brick", "style: the style image; texture: the example. "
                    "A scikit-image sample name or an image file.")
flags.DEFINE_integer("size", 256, "The images' shorter side in pixels (class: the image's side; "
                     "default there: the model's input).", lower_bound=1)
flags.DEFINE_list("layers", None, "style, texture: the style layers; invert: the layer(s) to match; "
                  "dream: the layers to amplify. Default: the model's (Gatys et al.'s on a VGG).")
flags.DEFINE_list("content_layer", None, "style: the content layer(s).")
flags.DEFINE_integer("class_index", None, "class: the class whose score to maximise.", lower_bound=0)
flags.DEFINE_integer("steps", None, "Optimisation steps (dream: per octave).", lower_bound=1)
flags.DEFINE_enum("optimizer", None, ["lbfgs", "adam"], "style, texture, invert: the optimiser.")
flags.DEFINE_float("learning_rate", None, "style, texture, invert: Adam's step, or how far "
                   "L-BFGS-B's first step moves the most sensitive pixel, in pixels.")
flags.DEFINE_float("alpha", None, "style: the content cost's weight.")
flags.DEFINE_float("beta", None, "style: the style cost's weight.")
flags.DEFINE_float("tv_weight", None, "style, texture, invert: the total variation prior's weight.")
flags.DEFINE_enum("init", None, ["content", "noise"], "style: start from the content image or noise.")
flags.DEFINE_integer("octaves", None, "dream: image scales, smallest first.", lower_bound=1)
flags.DEFINE_float("octave_scale", None, "dream: the ratio between octaves.", lower_bound=1.0)
flags.DEFINE_float("step_size", None, "dream: mean, class: RMS change of a pixel per step.", lower_bound=0.0)
flags.DEFINE_integer("jitter", None, "dream, class: the largest random shift in pixels.", lower_bound=0)
flags.DEFINE_float("l2_reg", None, "class: the weight of the L2 pull towards mid-grey.", lower_bound=0.0)
flags.DEFINE_integer("blur_every", None, "class: blur every this many steps (0: never).", lower_bound=0)
flags.DEFINE_float("blur_sigma", None, "class: the blur's Gaussian sigma in pixels.", lower_bound=0.0)
flags.DEFINE_integer("seed", None, "The seed of the start noise and the jitter.")
flags.DEFINE_bool("panel", False, "Draw the command's input images left of the result, at its height.")
flags.mark_flag_as_required("out")

# command: (the zoo.synthesis function, {flag: its keyword}), the flags it reads
# beyond COMMON's; keyword None: read here only (--size for loading the images).
IMAGE_FLAGS = ("content", "style")
_OPTIMISER = {"steps": "steps", "optimizer": "optimizer", "learning_rate": "learning_rate", "seed": "seed",
              "tv_weight": "tv_weight"}
COMMANDS = {
    "style": ("style_transfer", {"content": "content", "style": "style", "content_layer": "content_layer",
                                 "layers": "style_layers", "alpha": "alpha", "beta": "beta", "init": "init",
                                 "size": None, **_OPTIMISER}),
    "texture": ("texture", {"style": "example", "layers": "layers", "size": None, **_OPTIMISER}),
    "invert": ("invert", {"content": "image", "layers": "layer", "size": None, **_OPTIMISER}),
    "dream": ("deep_dream", {"content": "image", "layers": "layers", "size": None, "octaves": "octaves",
                             "octave_scale": "octave_scale", "steps": "steps", "step_size": "step_size",
                             "jitter": "jitter", "seed": "seed"}),
    "class": ("class_visualization", {"class_index": "class_index", "size": "size", "steps": "steps",
                                      "step_size": "step_size", "l2_reg": "l2_reg", "jitter": "jitter",
                                      "blur_every": "blur_every", "blur_sigma": "blur_sigma", "seed": "seed"}),
}
REQUIRED = {"invert": ("layers", "the layer(s) to invert, e.g. block2_conv2_relu"),
            "class": ("class_index", "the class to visualise, e.g. 3")}
# The flags every command reads (--model and --weights go to its function).
COMMON = ("out", "model", "weights", "panel")
SHOWN = ("loss", "content", "style", "tv", "score", "octave")  # on the progress bar


class UsageError(ValueError):
    """A command line zoo-synthesize cannot run; the message says what to pass."""


def _command(argv):
    from zoo.utils import did_you_mean

    if len(argv) != 2 or argv[1] not in COMMANDS:
        given = " ".join(argv[1:]) or "none"
        close = did_you_mean(argv[1], COMMANDS) if len(argv) == 2 else ""
        raise UsageError(f"give one command of {', '.join(COMMANDS)}; got {given!r}.{close}")
    return argv[1]


def arguments(command):
    """(function name, its keyword arguments) for `command` from the flags,
    refusing flags the command does not read and missing required ones."""
    from zoo import synthesis

    function, reads = COMMANDS[command]
    stray = [name for name in _tool_flags() if FLAGS[name].present and name not in reads and name not in COMMON]
    if stray:
        users = [c for c, (_, r) in COMMANDS.items() if stray[0] in r]
        raise UsageError(f"--{stray[0]} applies to {', '.join(users) or 'no command'}, not to {command}.")
    if command in REQUIRED and FLAGS[REQUIRED[command][0]].value is None:
        raise UsageError(f"{command} needs --{REQUIRED[command][0]}: {REQUIRED[command][1]}.")
    kwargs = {"model": FLAGS.model, "weights": FLAGS.weights}
    for name, keyword in reads.items():
        value = FLAGS[name].value
        if keyword is None or value is None or (name == "size" and not FLAGS["size"].present):
            continue
        if name in IMAGE_FLAGS:
            value = synthesis.load_image(value, FLAGS.size)
        kwargs[keyword] = value
    return function, kwargs


def _tool_flags():
    return [flag.name for flag in FLAGS.get_flags_for_module(__name__)]


def _progress_bar(function, kwargs):
    import keras

    defaults = {name: p.default for name, p in inspect.signature(function).parameters.items()}
    steps = kwargs.get("steps", defaults["steps"])
    total = steps * kwargs.get("octaves", defaults.get("octaves", 1)) + 1  # the start, then each step
    return keras.utils.Progbar(total, stateful_metrics=SHOWN)


def panel(inputs, result, gap=4):
    """uint8 RGB: each of `inputs` scaled to `result`'s height, then `result`,
    left to right with `gap` white pixels between them."""
    import numpy as np

    from zoo import synthesis
    from zoo.explain import pictures

    height = result.shape[0]
    tiles = [synthesis.load_image(image, (height, max(1, round(image.shape[1] * height / image.shape[0]))))
             for image in inputs]
    columns = []
    for tile in (*tiles, result):
        columns += [pictures.to_uint8(tile), np.full((height, gap, 3), 255, np.uint8)]
    return np.concatenate(columns[:-1], axis=1)


def _settings(function, kwargs, command):
    """Every keyword `function` ran with (its defaults included); images by the
    flag value they were loaded from and their size."""
    flag_of = {keyword: flag for flag, keyword in COMMANDS[command][1].items()}
    settings = {}
    for name, parameter in inspect.signature(function).parameters.items():
        value = kwargs.get(name, parameter.default)
        if name in flag_of and flag_of[name] in IMAGE_FLAGS:
            value = {"source": FLAGS[flag_of[name]].value, "shape": list(value.shape)}
        if name != "callback":
            settings[name] = value
    return settings


def synthesize(command):
    """Runs `command` from the flags: writes the PNG and the JSON, returns the JSON's data."""
    from zoo import synthesis
    from zoo.explain import pictures
    from zoo.utils import versions, write_json

    out = FLAGS.out
    if not out.lower().endswith(".png"):
        raise UsageError(f"--out must name a .png file; got {out!r}.")
    if not os.path.isdir(os.path.dirname(os.path.abspath(out))):
        raise UsageError(f"--out's folder {os.path.dirname(out)!r} does not exist.")
    name, kwargs = arguments(command)
    function = getattr(synthesis, name)
    bar = _progress_bar(function, kwargs)
    start = time.perf_counter()
    result = function(**kwargs, callback=lambda step, costs: bar.update(
        step + 1, [(k, v) for k, v in costs.items() if k in SHOWN]))
    seconds = time.perf_counter() - start
    bar.update(len(result.history["loss"]), finalize=True)  # L-BFGS-B may stop before --steps
    inputs = [kwargs[keyword] for flag, keyword in COMMANDS[command][1].items() if flag in IMAGE_FLAGS]
    pictures.save_png(out, panel(inputs, result.image) if FLAGS.panel else pictures.to_uint8(result.image))
    report = {
        "command": command, "function": f"zoo.synthesis.{name}", "out": out,
        "settings": _settings(function, kwargs, command),
        "costs": {cost: {"start": float(values[0]), "final": float(values[-1])}
                  for cost, values in result.history.items() if cost != "octave"},
        "evaluations": len(result.history["loss"]), "seconds": round(seconds, 2), "versions": versions()}
    write_json(out[:-4] + ".json", report)
    return report


def main(argv):
    cli.quiet()
    try:
        report = synthesize(_command(argv))
    except (ValueError, OSError, RuntimeError) as error:  # RuntimeError: ImageNet weights not fetched
        cli.fail("zoo-synthesize", error)
    costs = ", ".join(f"{cost} {values['start']:.4g} -> {values['final']:.4g}"
                      for cost, values in report["costs"].items() if ":" not in cost)
    print(f"{report['out']} ({costs}; {report['seconds']} s); settings and costs in {report['out'][:-4]}.json")


def run():
    """Console script entry point (zoo-synthesize)."""
    cli.run(main, __name__)


if __name__ == "__main__":
    run()
