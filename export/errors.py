"""The errors export raises: each carries one sentence a user can act on."""


class ExportError(ValueError):
    """Bad input (model, flag, data) or an export that cannot be done safely."""


class FlexOpsError(ExportError):
    """The TFLite model needs Flex (SELECT_TF_OPS) ops and they were not allowed."""


class ParityError(ExportError):
    """The exported model does not compute what the Keras model computes."""
