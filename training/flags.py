"""The harness's command-line flags, with validators so a bad value gets one clear error.

Importing this module defines the flags on absl's global FLAGS; `train.py`
reads them. `run_flags()` lists them, so a run can record its own flagfile.
"""

import ast
import os

from absl import flags

import zoo
from training import tasks
from training.config import LEARNING_RATE, RunConfig
from zoo.explain.parts import PARTS, check_parts
from zoo.synthesis import SAMPLES
from zoo.utils import did_you_mean

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "cosine", "step")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")

D = RunConfig  # the defaults live in one place: the config's fields

flags.DEFINE_string("model", D.model, "Registered model name (see zoo.list_models()).")
flags.DEFINE_list("model_args", list(D.model_args), "The model family's own arguments for "
                  "zoo.build, e.g. base_filters=16,depth=3 (values are Python literals).")
flags.DEFINE_string("dataset", D.dataset,
                    "Default: the model's task's own (digits; photos for style_net). "
                    "digits (scikit-learn's 8x8 digits), shapes (synthetic segmentation), "
                    "photos (scikit-image's photos as random crops: style content images), "
                    "folder:/path (one sub-folder per class), a tfds name (mnist, "
                    "cifar10, tf_flowers, oxford_iiit_pet, ...); for 1D and 3D models trace "
                    "(UCR Trace signals, from the tslearn package), moving_digits (synthetic "
                    "clips) or npz:/path/file.npz (arrays x [N, *spatial, channels], y [N]).")
flags.DEFINE_string("data_dir", D.data_dir, "tfds data directory (default: tfds's own).")
flags.DEFINE_bool("download", D.download, "Let tfds download and prepare a dataset that is not "
                  "in --data_dir yet; --nodownload fails at once instead (offline machines).")
flags.DEFINE_list("classes", list(D.classes), "Keep only these class indices (relabelled "
                  "0..k-1), e.g. 0,1,2,3,4; empty keeps all.")
flags.DEFINE_integer("image_size", D.image_size, "Input height and width of 2D images "
                     "(default: the model's); 1D and 3D data train at their own shape and "
                     "refuse it.", lower_bound=1)
flags.DEFINE_integer("batch_size", D.batch_size, "Global batch size (split over replicas).",
                     lower_bound=1)
flags.DEFINE_integer("epochs", D.epochs, "Training epochs (the head only, with "
                     "--freeze_backbone).", lower_bound=0)
flags.DEFINE_enum("optimizer", D.optimizer, OPTIMIZERS, "Optimizer (momentum: SGD with 0.9).")


def _rates(named):
    """'vgg11, vgg16: 0.0003; ...' of (name, rate) pairs whose rate is not None."""
    by_rate = {}
    for name, rate in named:
        if rate is not None:
            by_rate.setdefault(rate, []).append(name)
    return "; ".join(f"{', '.join(names)}: {rate:g}" for rate, names in sorted(by_rate.items()))


flags.DEFINE_float("learning_rate", D.learning_rate,
                   "Initial learning rate. Default: the model's own, recorded in the run's "
                   "flags.txt: its registry entry's (zoo.get_entry(name).learning_rate; "
                   f"{_rates((n, zoo.get_entry(n).learning_rate) for n in zoo.list_models())}), "
                   f"else its task's ({_rates((t.name, t.learning_rate) for t in tasks.all_tasks())}), else "
                   f"{LEARNING_RATE:g}; tuned for Adam.", lower_bound=0)
flags.DEFINE_enum("schedule", D.schedule, SCHEDULES,
                  "Learning-rate schedule: constant, cosine decay to 0, or step "
                  "(divided by 10 at 50% and 75% of the steps).")
flags.DEFINE_float("weight_decay", D.weight_decay, "Decoupled weight decay.", lower_bound=0)
flags.DEFINE_float("label_smoothing", D.label_smoothing, "Label smoothing.", lower_bound=0,
                   upper_bound=1)
flags.DEFINE_list("augment", D.augment, "Comma list of augmentations (training only): "
                  "flip, crop, resized_crop, pca, rotate, shear, elastic, color, mixup, cutmix. "
                  "Default: the model's own (crop for lenet5_relu, flip,crop for yolo, none for "
                  "most); empty: none.")
flags.DEFINE_integer("precise_bn_batches", D.precise_bn_batches,
                     "Precise BatchNorm: before each evaluation, set the BatchNorm moving "
                     "statistics to those of this many training batches (at most an epoch's; "
                     "not augmented), as pycls and detectron2 do; with momentum 0.99 a short "
                     "run's moving averages are still mostly their initial values. Models "
                     "without BatchNorm skip it; 0 keeps the moving averages.", lower_bound=0)
flags.DEFINE_string("pretrained", D.pretrained,
                    "imagenet, or the path of a .keras / .weights.h5 file from an earlier "
                    "run; the head is replaced for the new classes.")
flags.DEFINE_bool("freeze_backbone", D.freeze_backbone,
                  "Train only the head, the backbone frozen (BatchNorm in inference mode).")
flags.DEFINE_integer("fine_tune_epochs", D.fine_tune_epochs,
                     "After --epochs, unfreeze the backbone (BatchNorm stays in inference "
                     "mode) and train this many epochs more at --fine_tune_learning_rate.",
                     lower_bound=0)
flags.DEFINE_float("fine_tune_learning_rate", D.fine_tune_learning_rate,
                   "Learning rate while fine-tuning.", lower_bound=0)
flags.DEFINE_enum("mixed_precision", D.mixed_precision, PRECISIONS,
                  "Precision policy; auto times a few steps under each policy this "
                  "machine supports and keeps the fastest.")
flags.DEFINE_enum("strategy", D.strategy, STRATEGIES,
                  "tf.distribute strategy; multi_worker reads TF_CONFIG, tpu reads TPU_NAME.")
flags.DEFINE_integer("seed", D.seed, "Random seed (weights, shuffling, augmentation).",
                     lower_bound=0)
flags.DEFINE_bool("deterministic", D.deterministic,
                  "Deterministic ops (tf.config.experimental.enable_op_determinism): "
                  "with --seed, two runs give identical weights.")
flags.DEFINE_string("model_dir", D.model_dir,
                    "Where outputs go (default: a new folder under runs/).")
flags.DEFINE_bool("resume", D.resume, "Continue the run in --model_dir after its last "
                  "completed epoch (an error if it has no checkpoint).")
flags.DEFINE_list("export", list(D.export),
                  "After training, export best.keras into <model_dir>/export: a comma list of "
                  "saved_model, tflite and tflite:<quantization> (none, float16, dynamic, int8; "
                  "int8 calibrates on --dataset's training split). Empty: no export.")
flags.DEFINE_list("explain", list(D.explain),
                  "After training, draw what best.keras learned into <model_dir>/explain, on the "
                  f"test split (zoo-explain's pictures): a comma list of {', '.join(PARTS)}, or "
                  "all (those that apply to the model's task). Empty: none.")

# The style task's (training/tasks/style.py); other tasks refuse them (_check_task_settings).
flags.DEFINE_string("style_image", D.style_image,
                    "Style models: the style to learn, an image file or one of scikit-image's "
                    f"bundled images ({', '.join(SAMPLES)}).")
flags.DEFINE_string("content_layer", D.content_layer, "Style models: the loss network's layer "
                    "whose features the output keeps (default: Johnson et al.'s block2_conv2_relu).")
flags.DEFINE_list("style_layers", list(D.style_layers), "Style models: the loss network's layers "
                  "whose Gram matrices the output matches (default: Johnson et al.'s "
                  "block1_conv2_relu, block2_conv2_relu, block3_conv3_relu, block4_conv3_relu).")
flags.DEFINE_float("style_weight", D.style_weight, "Style models: the style cost's weight "
                   "against the content cost's 1 (both relative to their targets' own norms).",
                   lower_bound=0)
flags.DEFINE_float("tv_weight", D.tv_weight, "Style models: the total variation's weight "
                   "(squared differences of neighbouring pixels in [0, 1], per pixel).",
                   lower_bound=0)
flags.DEFINE_string("perceptual_weights", D.perceptual_weights,
                    "Style models: the loss network's (a zoo vgg16) weights: imagenet, none "
                    "(random: textures still transfer), a weights file, or auto (imagenet when "
                    "its file is in keras' cache, else none, with a warning).")
TASK_SETTINGS = ("style_image", "content_layer", "style_layers", "style_weight", "tv_weight",
                 "perceptual_weights")


@flags.validator("style_image", message="bad --style_image")
def _check_style_image(value):
    if value is None or value in SAMPLES or os.path.isfile(value):
        return True
    raise flags.ValidationError(f"--style_image={value!r} is neither an image file nor one of "
                                f"scikit-image's bundled images ({', '.join(SAMPLES)})."
                                f"{did_you_mean(value, SAMPLES)}")


@flags.validator("perceptual_weights", message="bad --perceptual_weights")
def _check_perceptual_weights(value):
    if value in ("auto", "imagenet", "none") or os.path.isfile(value):
        return True
    raise flags.ValidationError(f"--perceptual_weights={value!r} is not auto, imagenet, none or "
                                "an existing weights file.")


@flags.multi_flags_validator(["model", *TASK_SETTINGS], message="flag of another task")
def _check_task_settings(values):
    if values["model"] not in zoo.list_models():
        return True  # reported by the --model validator
    task = tasks.get_task(zoo.get_entry(values["model"]).task)

    def is_set(name):
        value, default = values[name], getattr(D, name)
        return (tuple(value) if isinstance(default, tuple) else value) != default

    given = [name for name in TASK_SETTINGS if is_set(name) and name not in task.settings]
    if given:
        raise flags.ValidationError(
            f"--{given[0]} is a setting of style models (e.g. --model=style_net); "
            f"--model={values['model']} is a {task.name} model: drop it.")
    return True


@flags.validator("explain", message="bad --explain")
def _check_explain(names):
    try:
        check_parts(names)
    except ValueError as error:
        raise flags.ValidationError(f"--explain: {error}") from None
    return True


def parse_export(items):
    """["saved_model", "tflite:int8"] -> (True, ("int8",)): the SavedModel wanted, then
    the TFLite quantizations in order (plain "tflite" is "none")."""
    from export import QUANTIZATIONS

    saved_model, quantizations = False, []
    for item in items:
        kind, _, quantize = item.partition(":")
        if item == "saved_model":
            saved_model = True
        elif kind == "tflite" and (quantize or "none") in QUANTIZATIONS:
            quantizations.append(quantize or "none")
        else:
            raise ValueError(f"--export: {item!r} is not saved_model, tflite or "
                             f"tflite:<{'|'.join(QUANTIZATIONS)}>.")
    return saved_model, tuple(dict.fromkeys(quantizations))


@flags.validator("export", message="bad --export")
def _check_export(items):
    try:
        parse_export(items)
    except ValueError as error:
        raise flags.ValidationError(str(error)) from None
    return True


def parse_model_args(items):
    """["depth=3", "encoder=resnet18"] -> {"depth": 3, "encoder": "resnet18"}."""
    parsed = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"--model_args entries are name=value; got {item!r}.")
        try:
            parsed[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed[key] = value
    return parsed


def run_flags():
    """The harness's own flags (those defined here), in definition order."""
    return flags.FLAGS.get_flags_for_module(__name__)


@flags.validator("model", message="unknown model")
def _check_model(name):
    if name not in zoo.list_models():
        hint = did_you_mean(name, zoo.list_models())
        raise flags.ValidationError(f"--model={name!r} is not a registered model.{hint} "
                                    f"Known: {', '.join(zoo.list_models())}.")
    return True


@flags.multi_flags_validator(["model", "model_args"], message="bad --model_args")
def _check_model_args(values):
    try:
        args = parse_model_args(values["model_args"])
    except ValueError as error:
        raise flags.ValidationError(str(error)) from None
    if values["model"] not in zoo.list_models():
        return True  # reported by the --model validator
    accepted = zoo.get_entry(values["model"]).family_args()
    unknown = sorted(set(args) - set(accepted))
    if unknown:
        raise flags.ValidationError(
            f"--model_args: {values['model']} has no argument(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(accepted) or 'none'}.")
    return True


@flags.validator("dataset", message="unknown dataset")
def _check_dataset(name):
    from training import data

    if name is None:
        return True  # the model's task's default
    try:
        data.check_name(name)
    except ValueError as error:
        raise flags.ValidationError(f"--dataset: {error}") from None
    return True


@flags.validator("augment", message="unknown augmentation")
def _check_augment(names):
    if not names:
        return True
    try:
        from training.augment import AUGMENTATIONS
    except ImportError as error:
        raise flags.ValidationError(f"--augment needs training/augment.py: {error}") from None
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise flags.ValidationError(f"--augment: unknown {', '.join(unknown)}; "
                                    f"accepted: {', '.join(AUGMENTATIONS)}.")
    return True


@flags.validator("classes", message="bad --classes")
def _check_classes(values):
    if not all(v.isdigit() for v in values) or len(set(values)) != len(values):
        raise flags.ValidationError(f"--classes must be distinct non-negative ints; got {values}.")
    return True


@flags.validator("pretrained", message="bad --pretrained")
def _check_pretrained(value):
    if value is None or value == "imagenet" or os.path.isfile(value):
        return True
    raise flags.ValidationError(f"--pretrained={value!r} is neither 'imagenet' nor an "
                                "existing .keras / .weights.h5 file.")


@flags.multi_flags_validator(["freeze_backbone", "pretrained"], message="bad flags")
def _check_freeze(values):
    if values["freeze_backbone"] and not values["pretrained"]:
        raise flags.ValidationError("--freeze_backbone needs --pretrained (a frozen random "
                                    "backbone learns nothing).")
    return True


@flags.multi_flags_validator(["model", "dataset"], message="model and dataset do not fit")
def _check_task(values):
    if values["model"] not in zoo.list_models():
        return True  # reported by the --model validator
    task = tasks.get_task(zoo.get_entry(values["model"]).task)
    refused = task.check_dataset(values["dataset"] or task.default_dataset, model=values["model"])
    if refused:
        raise flags.ValidationError(refused)
    return True


@flags.multi_flags_validator(["model", "image_size"], message="image too small")
def _check_image_size(values):
    if values["model"] not in zoo.list_models() or values["image_size"] is None:
        return True
    minimum = zoo.get_entry(values["model"]).min_size
    if values["image_size"] < minimum:
        raise flags.ValidationError(f"--image_size={values['image_size']} is too small for "
                                    f"{values['model']}: it needs at least {minimum}.")
    return True


@flags.validator("strategy", message="bad --strategy")
def _check_strategy(value):
    if value == "multi_worker" and "TF_CONFIG" not in os.environ:
        raise flags.ValidationError(
            "--strategy=multi_worker needs the TF_CONFIG environment variable "
            '({"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", '
            '"index": i}}).')
    return True


@flags.multi_flags_validator(["resume", "model_dir"], message="bad flags")
def _check_resume(values):
    if values["resume"] and not values["model_dir"]:
        raise flags.ValidationError("--resume needs --model_dir (the run to continue).")
    return True
