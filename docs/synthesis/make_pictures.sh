#!/bin/sh
# The README's image-synthesis pictures, made by zoo-synthesize from
# scikit-image's bundled photos. Every VGG19 here has random weights
# (weights=None: no download): enough for texture synthesis and inversion,
# not for the familiar style-transfer pictures (pass --weights=imagenet for
# those). The class pictures come from a LeNet-5 trained here by zoo-train.
# About 15 minutes on 2 CPU cores. Run from the checkout:
#     sh docs/synthesis/make_pictures.sh
set -e
out=docs/synthesis
synthesize="python -m zoo.synthesis.cli"

$synthesize texture --style=gravel --size=128 --steps=100 --panel --out=$out/texture_gravel.png
# The issue's pair with style_transfer's defaults, at bench/synthesis.py's size:
# content, style and result side by side.
$synthesize style --content=chelsea --style=brick --size=128 --panel --out=$out/style_chelsea_brick.png
for layer in block1_conv2 block3_conv2 block5_conv2; do
    $synthesize invert --content=astronaut --layers=${layer}_relu --size=96 --steps=100 --panel \
        --out=$out/invert_$layer.png
done

run=$(mktemp -d)
python -m training.train --model=lenet5_relu --epochs=10 --model_dir=$run/lenet
for digit in 0 1 2 3 4 5 6 7 8 9; do
    $synthesize class --model=$run/lenet/best.keras --class_index=$digit --steps=100 --jitter=2 \
        --out=$run/class_$digit.png
done
python - "$run" <<'PY'
import sys

import numpy as np
from PIL import Image

from zoo.explain import grid, save_png

tiles = [np.asarray(Image.open(f"{sys.argv[1]}/class_{digit}.png")) for digit in range(10)]
save_png("docs/synthesis/class_lenet5_digits.png", grid(tiles, columns=10, gap=2), scale=2)
PY
