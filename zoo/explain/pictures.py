"""Arrays to pictures: 8-bit RGB, colour maps, overlays, grids and PNG files.

Every function returns the uint8 RGB array it draws, so a test (or a user)
can compare the picture with what a PNG file reloads to.
"""

import os

import numpy as np

from zoo.utils import atomic_path


def to_uint8(image, value_range=(0.0, 255.0)):
    """`image` (H, W), (H, W, 1) or (H, W, 3) with values in `value_range` as
    uint8 RGB (H, W, 3): grey repeated over three channels, out-of-range clipped."""
    image = np.asarray(image, dtype="float32")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"to_uint8 takes an (H, W), (H, W, 1) or (H, W, 3) image; "
                         f"got shape {image.shape}.")
    low, high = value_range
    if not high > low:
        raise ValueError(f"value_range must be (low, high) with high > low; got {value_range!r}.")
    scaled = (image - low) / (high - low) * 255.0
    return np.clip(np.round(scaled), 0, 255).astype("uint8")


def normalise(array):
    """`array` scaled to [0, 1] by its own minimum and maximum (all zeros when flat)."""
    array = np.asarray(array, dtype="float32")
    low, high = float(array.min()), float(array.max())
    return (array - low) / (high - low) if high > low else np.zeros_like(array)


def colorize(heatmap, cmap="jet", value_range=None):
    """A 2-D `heatmap` as uint8 RGB through matplotlib's colour map `cmap`;
    `value_range` (low, high) fixes the ends of the scale, None: the map's own
    minimum and maximum."""
    import matplotlib

    heatmap = np.asarray(heatmap, dtype="float32")
    if heatmap.ndim != 2:
        raise ValueError(f"colorize takes a 2-D heat map; got shape {heatmap.shape}.")
    if cmap not in matplotlib.colormaps:
        raise ValueError(f"Unknown colour map {cmap!r}; e.g. 'jet', 'viridis', 'inferno', "
                         "'gray' (any name in matplotlib.colormaps).")
    if value_range is None:
        unit = normalise(heatmap)
    else:
        low, high = value_range
        unit = np.clip((heatmap - low) / (high - low), 0.0, 1.0)
    return np.round(matplotlib.colormaps[cmap](unit)[..., :3] * 255).astype("uint8")


def resize(heatmap, size):
    """A 2-D `heatmap` resized bilinearly to `size` = (height, width), each
    map cell stretched over the image area it stands for (cell centres to
    area centres, as for a map at a whole stride of the image)."""
    from PIL import Image

    heatmap = np.asarray(heatmap, dtype="float32")
    height, width = size
    return np.asarray(Image.fromarray(heatmap).resize((width, height), Image.BILINEAR))


def overlay(image, heatmap, alpha=0.5, cmap="jet", value_range=(0.0, 255.0), heat_range=None):
    """`heatmap` (any resolution, resized to the image) coloured by `cmap` and
    blended over `image` (pixels in `value_range`) with weight `alpha`."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha!r}.")
    base = to_uint8(image, value_range).astype("float32")
    heat = colorize(resize(heatmap, base.shape[:2]), cmap, heat_range).astype("float32")
    return np.round((1.0 - alpha) * base + alpha * heat).astype("uint8")


def grid(tiles, columns=None, gap=1, fill=255):
    """uint8 tiles (N, h, w, 3) (or (N, h, w), grey) laid out row by row,
    `columns` per row (None: a near-square grid), `gap` pixels of `fill` between them."""
    tiles = np.asarray(tiles)
    if tiles.ndim == 3:
        tiles = np.repeat(tiles[..., None], 3, axis=-1)
    if tiles.ndim != 4 or tiles.shape[-1] != 3 or len(tiles) == 0:
        raise ValueError(f"grid takes a non-empty stack of tiles (N, h, w[, 3]); got shape {tiles.shape}.")
    count, height, width, _ = tiles.shape
    columns = columns or int(np.ceil(np.sqrt(count)))
    rows = -(-count // columns)
    picture = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap, 3), fill, "uint8")
    for index, tile in enumerate(tiles):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        picture[top:top + height, left:left + width] = tile
    return picture


def figure_to_array(figure):
    """A matplotlib `Figure` rendered by Agg to uint8 RGB (no pyplot, no global backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_png(path, picture, scale=1):
    """Writes uint8 RGB `picture` (H, W, 3) (e.g. from `grid`, `overlay`,
    `colorize`) to the PNG file `path`, each pixel repeated `scale` times
    (nearest neighbour, so small filters stay crisp), atomically. Returns the
    array written, which is what the file reloads to."""
    from PIL import Image

    picture = np.asarray(picture)
    if picture.dtype != np.uint8 or picture.ndim != 3 or picture.shape[-1] != 3:
        raise ValueError(f"save_png takes a uint8 (H, W, 3) picture (see to_uint8, colorize, "
                         f"overlay, grid); got dtype {picture.dtype}, shape {picture.shape}.")
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive int; got {scale!r}.")
    picture = picture.repeat(scale, axis=0).repeat(scale, axis=1)
    if not os.fspath(path).lower().endswith(".png"):
        raise ValueError(f"save_png writes .png files; got {os.fspath(path)!r}.")
    with atomic_path(path) as tmp:
        Image.fromarray(picture).save(tmp, format="PNG")
    return picture
