"""zoo-predict: a .keras or .tflite model's predictions on image files.

    zoo-predict --model=runs/lenet5/best.keras digit.png cat.jpg
    zoo-predict --model=runs/lenet5/export/lenet5.tflite --output_dir=out *.png

Writes one PNG per image (the top classes with their probabilities, the
segmentation mask over the image, or a detector's boxes with class and score) and predictions.json (everything) into
--output_dir (default: predictions/ beside the model); exits 2 with one
line on stderr when the model or an image cannot be read.
"""

import os

from absl import flags

from zoo import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A .keras file (e.g. <run>/best.keras) or a .tflite file.")
flags.DEFINE_string("output_dir", None, "Where the PNGs and predictions.json go "
                    "(default: predictions/ beside the model).")
flags.DEFINE_list("labels", None, "Class names, comma separated (default: the export's "
                  "metadata sidecar, else class indices).")
flags.DEFINE_integer("top", 5, "Classes listed per image.", lower_bound=1)
flags.mark_flag_as_required("model")


def main(argv):
    cli.quiet()
    from zoo.explain.predict import PredictError, load_predictor, predict_files

    output_dir = FLAGS.output_dir or os.path.join(os.path.dirname(os.path.abspath(FLAGS.model)),
                                                  "predictions")
    try:
        predictor = load_predictor(FLAGS.model, labels=FLAGS.labels)
        report = predict_files(predictor, argv[1:], output_dir, top=FLAGS.top)
    except PredictError as error:
        cli.fail("zoo-predict", error)
    for result in report["predictions"]:
        key, value = next((k, v) for k, v in (("top", "probability"), ("detections", "score"),
                                               ("classes", "fraction")) if k in result)
        entries = ", ".join(f"{e['name']} {e[value]:.3f}" for e in result[key])
        print(f"{result['image']}: {entries or 'nothing detected'}")
    print(f"pictures and predictions.json in {output_dir}")


def run():
    """Console script entry point (zoo-predict)."""
    cli.run(main, __name__)


if __name__ == "__main__":
    run()
