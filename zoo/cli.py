"""What the zoo's absl command lines (zoo-train, zoo-export, zoo-predict, zoo-explain,
zoo-verify, zoo-synthesize) share."""

import sys

from absl import app, flags, logging


def run(main, flag_module):
    """`app.run(main)`, with --help listing the flags `flag_module` (a module
    name) defines: absl's --help lists the key flags of the main module, which
    for a console script is the wrapper file named by argv[0], not the module
    that defines them."""
    for flag in flags.FLAGS.get_flags_for_module(flag_module):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    app.run(main)


def quiet():
    """Warnings and errors only, unless -v was given: TensorFlow's INFO lines
    drown a command's own report."""
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)


def fail(program, error):
    """The one line an expected failure prints, and exit code 2."""
    print(f"{program}: error: {error}", file=sys.stderr)
    sys.exit(2)
