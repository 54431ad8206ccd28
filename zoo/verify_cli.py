"""zoo-verify: enroll people, identify faces, verify pairs with a trained embedding model.

    zoo-verify enroll --model=runs/embedding/best.keras --gallery=people/
    zoo-verify identify --gallery=people/ query.png [more.png ...]
    zoo-verify verify --model=runs/embedding/best.keras a.png b.png

`enroll` embeds every image of the gallery folder (one sub-folder, or one
image, per person) and writes the gallery file (--output, default
<gallery>/gallery.npz), which records the model and its calibrated threshold.
`identify` prints each image's nearest enrolled identity and its distance,
or "unknown" when the distance is over the threshold; --model defaults to the
gallery's. `verify` prints "same" or "different" and the distance.
Distances are squared L2 between embeddings; the threshold is the one
zoo-train calibrated (verification.json beside best.keras) unless
--threshold is given. Exits 2 with one line on stderr when a model, an image
or the gallery cannot be used.
"""

import os

from absl import app, flags

from zoo import cli

COMMANDS = ("enroll", "identify", "verify")
FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "The embedding model: a .keras file (e.g. <run>/best.keras) "
                    "or its exported .tflite (identify: default the gallery's).")
flags.DEFINE_string("gallery", None, "enroll: the folder of people; identify: a gallery .npz, or "
                    "the folder enroll wrote gallery.npz into.")
flags.DEFINE_string("output", None, "enroll: the gallery file to write (default: "
                    "<gallery>/gallery.npz).")
flags.DEFINE_float("threshold", None, "Same identity when the squared L2 distance is <= this "
                   "(default: the one calibrated with the model).")


def _usage(message):
    raise app.UsageError(f"{message} Usage: zoo-verify enroll --model=M --gallery=FOLDER | "
                         "zoo-verify identify --gallery=G IMAGE... | "
                         "zoo-verify verify --model=M IMAGE_A IMAGE_B")


def _require(name, command):
    if FLAGS[name].value is None:
        _usage(f"zoo-verify {command} needs --{name}.")
    return FLAGS[name].value


def enroll(images):
    from zoo import verify

    if images:
        _usage(f"zoo-verify enroll reads the --gallery folder; got extra arguments {images}.")
    embedder = verify.load_embedder(_require("model", "enroll"))
    folder = _require("gallery", "enroll")
    gallery = verify.enroll(embedder, folder, threshold=FLAGS.threshold)
    output = FLAGS.output or os.path.join(folder, verify.GALLERY_FILE)
    verify.save_gallery(gallery, output)
    people = len(set(gallery.identities))
    shown = "none (pass --threshold to identify)" if gallery.threshold is None else f"{gallery.threshold:.4f}"
    print(f"enrolled {len(gallery.identities)} images of {people} people into {output} "
          f"(threshold {shown})")


def identify(images):
    from zoo import verify

    if not images:
        _usage("zoo-verify identify needs at least one image.")
    gallery = verify.load_gallery(_require("gallery", "identify"))
    embedder = verify.load_embedder(FLAGS.model or gallery.model)
    for image in images:
        match = verify.identify(embedder, gallery, image, threshold=FLAGS.threshold)
        if match.identity is None:
            print(f"{image}: unknown (nearest {match.nearest} at distance {match.distance:.4f} "
                  f"> threshold {match.threshold:.4f})")
        else:
            print(f"{image}: {match.identity} (distance {match.distance:.4f} <= threshold "
                  f"{match.threshold:.4f})")


def verify_pair(images):
    from zoo import verify

    if len(images) != 2:
        _usage(f"zoo-verify verify takes two images; got {len(images)}.")
    embedder = verify.load_embedder(_require("model", "verify"))
    same, distance, threshold = verify.verify(embedder, *images, threshold=FLAGS.threshold)
    print(f"{'same' if same else 'different'} (distance {distance:.4f} "
          f"{'<=' if same else '>'} threshold {threshold:.4f})")


RUN = dict(zip(COMMANDS, (enroll, identify, verify_pair)))


def main(argv):
    cli.quiet()
    if len(argv) < 2 or argv[1] not in RUN:
        _usage(f"Give a command, one of {', '.join(COMMANDS)}; got "
               f"{argv[1] if len(argv) > 1 else 'none'!r}.")
    from zoo.explain.predict import PredictError

    try:
        RUN[argv[1]](argv[2:])
    except PredictError as error:  # zoo.verify.VerifyError and unreadable images alike
        cli.fail("zoo-verify", error)


def run():
    """Console script entry point (zoo-verify)."""
    cli.run(main, __name__)


if __name__ == "__main__":
    run()
