"""zoo-synthesize in a subprocess (its absl flags, --model and others, would
clash with the harness's in this process): one interpreter runs several
command lines, so TensorFlow is imported once."""

import configparser
import json
import re
import shlex
import subprocess
import sys

import numpy as np
from PIL import Image

from harness_util import REPO, env

# Runs each command line of argv[1] (a JSON list of lists) as zoo-synthesize
# would, and prints [{"code", "stdout", "stderr"}] as JSON on the last line;
# the command lines of argv[2] are only read (flags, images), not run.
DRIVER = """
import contextlib, io, json, sys
from absl import flags
from zoo.synthesis import cli
assert callable(cli.run)  # the console script's entry point
for argv in json.loads(sys.argv[2]):
    flags.FLAGS.unparse_flags()
    cli.arguments(cli._command(flags.FLAGS(["zoo-synthesize", *argv])))
results = []
for argv in json.loads(sys.argv[1]):
    flags.FLAGS.unparse_flags()
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main(flags.FLAGS(["zoo-synthesize", *argv]))
        except SystemExit as exit:
            code = exit.code
        except flags.Error as error:  # what app.run reports as a usage error
            print(error, file=sys.stderr)
            code = 1
    results.append({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
print(json.dumps(results))
"""


def readme_command_lines():
    """The README's `zoo-synthesize ...` lines as argument lists."""
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    return [shlex.split(line)[1:] for block in blocks for line in block.splitlines()
            if line.startswith("zoo-synthesize ")]


def run(*command_lines, cwd, read_only=()):
    process = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(command_lines), json.dumps(read_only)],
                             cwd=cwd, env=env(), capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr[-3000:]
    return json.loads(process.stdout.strip().splitlines()[-1])


def test_commands_write_the_png_and_its_settings_and_bad_input_is_one_line(tmp_path):
    """Also reads every README zoo-synthesize line: its flags fit its command."""
    assert len(readme_command_lines()) == 5
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    assert "zoo-synthesize = zoo.synthesis.cli:run" in config["options.entry_points"]["console_scripts"]
    results = run(
        ["texture", "--model=vgg11", "--style=gravel", "--size=32", "--steps=15", "--panel",
         "--out=texture.png"],
        ["dream", "--model=vgg11", "--content=coffee", "--size=32", "--octaves=1", "--steps=2",
         "--layers=block2_conv1_relu", "--out=dream.png"],
        ["class", "--model=lenet5", "--class_index=3", "--steps=3", "--jitter=1", "--out=class.png"],
        ["texture", "--model=vgg11", "--style=no_such.jpg", "--out=x.png"],
        ["invert", "--model=vgg11", "--layers=block2_conv9", "--size=32", "--out=x.png"],
        ["style", "--model=vgg99", "--out=x.png"],
        ["styel", "--out=x.png"],
        ["texture", "--octaves=2", "--out=x.png"],
        ["invert", "--out=x.png"],
        ["texture", "--out=x.jpg"],
        cwd=tmp_path, read_only=readme_command_lines())
    texture, dream, visualised, *errors = results
    assert [r["code"] for r in results] == [0, 0, 0] + [2] * 7, results

    picture = np.asarray(Image.open(tmp_path / "texture.png"))
    # --panel: the grey example, a white gap of 4 px, the RGB texture.
    assert picture.shape == (32, 32 + 4 + 32, 3) and picture.dtype == np.uint8
    example, gap, result = picture[:, :32], picture[:, 32:36], picture[:, 36:]
    assert np.all(gap == 255) and np.all(example == example[..., :1]) and not np.all(result == result[..., :1])
    report = json.loads((tmp_path / "texture.json").read_text())
    assert report["command"] == "texture" and report["function"] == "zoo.synthesis.texture"
    assert report["settings"]["example"] == {"source": "gravel", "shape": [32, 32, 1]}
    assert report["settings"]["steps"] == 15 and report["settings"]["optimizer"] == "lbfgs"  # the default
    assert report["costs"]["style"]["final"] < 0.1 * report["costs"]["style"]["start"]
    assert "texture.png (style " in texture["stdout"]
    assert np.asarray(Image.open(tmp_path / "dream.png")).shape[:2] == (32, 48)  # shorter side 32
    assert json.loads((tmp_path / "dream.json").read_text())["settings"]["layers"] == ["block2_conv1_relu"]
    # LeNet-5 by name at its own 32x32 grey input, saved as RGB.
    assert np.asarray(Image.open(tmp_path / "class.png")).shape == (32, 32, 3)
    assert "score" in json.loads((tmp_path / "class.json").read_text())["costs"]

    lines = [r["stderr"].strip() for r in errors]
    assert all(line.startswith("zoo-synthesize: error: ") and "\n" not in line for line in lines), lines
    image, layer, model, command, stray, missing, extension = lines
    assert "'no_such.jpg' is neither an image file nor a bundled scikit-image sample" in image and "brick" in image
    assert "no layer 'block2_conv9'" in layer and "Did you mean block2_conv1" in layer
    assert "Unknown model name 'vgg99'" in model and "vgg19" in model
    assert "got 'styel'" in command and "style, texture, invert, dream, class" in command
    assert "--octaves applies to dream, not to texture" in stray
    assert "invert needs --layers" in missing
    assert "--out must name a .png file; got 'x.jpg'" in extension
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "x.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{name}.{ext}" for name in ("texture", "dream", "class") for ext in ("png", "json"))
