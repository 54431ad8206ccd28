"""zoo-explain: pictures of what a trained run's model learned, as PNG files.

    zoo-explain --model_dir=runs/lenet5_relu-digits-20261126-031500
    zoo-explain --model_dir=<run> --what=filters,gradcam --images=digit.png,cat.jpg
    zoo-explain --model_dir=<run> --what=gradcam photos/*.jpg     # files after the flags too

Reads <run>/best.keras and the run's flags.txt (its model and dataset), and
draws each part of --what (default all: every part that applies to the
model's task) into --output_dir (default <run>/explain), with explain.json
saying what each picture shows. Without --images it uses the run's own test
split, loaded as the harness loaded it (nothing is downloaded). Exits 2 with
one line on stderr when the run, a part or an image does not fit.
"""

from absl import flags

from zoo import cli
from zoo.explain import parts, runs

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A zoo-train run folder (holds best.keras and flags.txt).")
flags.DEFINE_list("images", None, "Image files to explain, comma separated (default: the run's "
                  "test split).")
flags.DEFINE_list("what", ["all"], f"Comma list of {', '.join(parts.PARTS)}, or all (every part "
                  "that applies to the model's task).")
flags.DEFINE_string("output_dir", None, "Where the PNGs and explain.json go (default: "
                    "<model_dir>/explain).")
flags.DEFINE_integer("examples", 8, "Images explained one by one (attribution maps, neighbour "
                     "queries); one per class first.", lower_bound=1)
flags.mark_flag_as_required("model_dir")


@flags.validator("what", message="bad --what")
def _check_what(names):
    try:
        parts.check_parts(names)
    except ValueError as error:
        raise flags.ValidationError(f"--what: {error}") from None
    return True


def main(argv):
    cli.quiet()
    images = [*(FLAGS.images or ()), *argv[1:]]  # as zoo-predict, files may follow the flags
    try:
        report = runs.explain_run(FLAGS.model_dir, images or None, FLAGS.what, FLAGS.output_dir,
                                  FLAGS.examples)
    except (ValueError, OSError) as error:  # runs.ExplainError, and the data's DataError
        cli.fail("zoo-explain", error)
    for name, part in report["parts"].items():
        numbers = ", ".join(f"{k} {v:.3f}" for k, v in part.items() if isinstance(v, float))
        print(f"{name}: {part['picture']}" + (f" ({numbers})" if numbers else ""))


def run():
    """Console script entry point (zoo-explain)."""
    cli.run(main, __name__)


if __name__ == "__main__":
    run()
