"""TFLite (LiteRT) conversion from a SavedModel: float32, float16, dynamic-range
and full-integer quantization; op inventory and Flex (SELECT_TF_OPS) detection."""

import collections
import re

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert import schema_py_generated as schema

from export.errors import ExportError, FlexOpsError
from zoo import layers as zl

QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
QUANTIZED_IO = {"int8": tf.int8, "uint8": tf.uint8}
FLEX_PREFIX = "Flex"
_BUILTIN_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


# Layers whose ops an int8 model keeps in float32: a detector's decoding and NMS
# (zoo.layers.YoloDetections; LiteRT's NMS kernel is float only, and the quantizer
# garbles the decoded boxes). The network before them runs in int8.
FLOAT_LAYERS = (zl.YoloDetections,)


def float_layer_names(model):
    """Names of `model`'s layers that an int8 conversion keeps in float32."""
    return [layer.name for layer in _leaf_layers(model) if isinstance(layer, FLOAT_LAYERS)]


def convert(saved_model_dir, quantize="none", representative=None, representative_steps=100,
            quantized_io="int8", float_layers=()):
    """The TFLite flatbuffer (bytes) of the SavedModel at `saved_model_dir`.

    Select TF ops are enabled so that conversion succeeds and reports which
    ops need them; `check_flex` refuses the result unless Flex is allowed.
    `representative` (images, float32, model input range) calibrates int8.
    `float_layers`: names of Keras layers whose ops int8 keeps in float32.
    """
    if quantize not in QUANTIZATIONS:
        raise ExportError(f"quantize must be one of {', '.join(QUANTIZATIONS)}; got {quantize!r}.")
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    builtins = tf.lite.OpsSet.TFLITE_BUILTINS
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        if quantized_io not in QUANTIZED_IO:
            raise ExportError(f"quantized_io must be one of {', '.join(QUANTIZED_IO)}; "
                              f"got {quantized_io!r}.")
        if representative is None or len(representative) == 0:
            raise ExportError("int8 quantization needs representative data from the training "
                              "set (--representative_data, e.g. digits).")
        samples = np.asarray(representative, "float32")[:max(1, representative_steps)]
        converter.representative_dataset = lambda: ([sample[None]] for sample in samples)
        builtins = tf.lite.OpsSet.TFLITE_BUILTINS_INT8
        converter.inference_input_type = QUANTIZED_IO[quantized_io]
        converter.inference_output_type = QUANTIZED_IO[quantized_io]
    converter.target_spec.supported_ops = [builtins, tf.lite.OpsSet.SELECT_TF_OPS]
    try:
        if quantize == "int8" and float_layers:
            return _int8_except(converter, float_layers, QUANTIZED_IO[quantized_io])
        return converter.convert()
    except Exception as error:  # ConverterError carries the MLIR diagnostics
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ExportError(f"TFLite conversion ({quantize}) failed: {first}") from error


def _int8_except(converter, layer_names, io_type):
    """Full-integer quantization but for the ops of the Keras layers `layer_names`,
    which stay float32 between a DEQUANTIZE and their float outputs. The converter
    calibrates, then the MLIR quantizer runs with those ops' tensors denylisted (as
    tf.lite.experimental.QuantizationDebugger does; that public wrapper cannot set
    the input type). A layer's ops are named "<model scope>/<layer name>[_n]/..."."""
    from tensorflow.lite.python.convert import mlir_quantize

    converter._experimental_calibrate_only = True
    calibrated = converter.convert()
    scope = re.compile(rf"(^|/)({'|'.join(map(re.escape, layer_names))})(_\d+)?/")
    model = schema.Model.GetRootAs(calibrated, 0)
    names = sorted({name for s in range(model.SubgraphsLength())
                    for t in range(model.Subgraphs(s).TensorsLength())
                    for name in [model.Subgraphs(s).Tensors(t).Name().decode()]
                    if any(scope.search(part) for part in name.split(";"))})
    if not names:
        raise ExportError(f"int8: no ops of layer(s) {', '.join(layer_names)} found to keep in float32.")
    return mlir_quantize(calibrated, input_data_type=io_type, output_data_type=io_type,
                         denylisted_nodes=names)


def op_counts(flatbuffer):
    """{op name: count} over every subgraph; Flex ops appear as Flex<TfOp>."""
    model = schema.Model.GetRootAs(flatbuffer, 0)
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        custom = code.CustomCode()
        codes.append(custom.decode() if custom else _BUILTIN_NAMES.get(builtin, str(builtin)))
    counts = collections.Counter()
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            counts[codes[subgraph.Operators(o).OpcodeIndex()]] += 1
    return dict(sorted(counts.items()))


def flex_ops(counts):
    return sorted(op for op in counts if op.startswith(FLEX_PREFIX))


def _graph_op_types(graph):
    types = {op.type for op in graph.get_operations()}
    for function in graph.as_graph_def().library.function:
        types.update(node.op for node in function.node_def)
    return types


def _leaf_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        elif not isinstance(layer, keras.layers.InputLayer):
            yield layer


def layers_causing(model, flex):
    """[(layer type, layer name)] of the Keras layers whose TF graph holds a
    Flex op's TF op (FlexMatrixInverse -> MatrixInverse), found by tracing
    each layer alone."""
    wanted = {op[len(FLEX_PREFIX):] for op in flex}
    found = []
    for layer in _leaf_layers(model):
        try:
            specs = tf.nest.map_structure(lambda t: tf.TensorSpec(t.shape, t.dtype), layer.input)
            trace = tf.function(lambda x, layer=layer: layer(x, training=False))
            graph = trace.get_concrete_function(specs).graph
        except Exception:  # a shared or exotic layer: skip it; the op names still say enough
            continue
        if wanted & _graph_op_types(graph):
            found.append((type(layer).__name__, layer.name))
    return found


def check_runtime_support(model):
    """Refuses, before conversion, layers that convert to a builtin op LiteRT's
    kernel cannot run: a grouped Conv3D (the 3D depthwise conv of zoo's 3D
    MobileNets and EfficientNets) becomes CONV_3D, whose kernel has no groups
    and fails when the interpreter prepares it."""
    grouped = [layer.name for layer in _leaf_layers(model)
               if isinstance(layer, keras.layers.Conv3D) and layer.groups > 1]
    if grouped:
        raise ExportError(
            f"{model.name}: LiteRT's CONV_3D kernel has no groups, so the grouped Conv3D "
            f"layer(s) {', '.join(map(repr, grouped[:5]))}{' ...' if len(grouped) > 5 else ''} "
            "(3D depthwise convolutions) cannot run on a phone; a 3D ResNet or VGG has none.")


def check_flex(flatbuffer, model, allow_flex):
    """The Flex ops in `flatbuffer` (a report dict); raises unless allowed."""
    flex = flex_ops(op_counts(flatbuffer))
    if not flex:
        return {"ops": [], "layers": [], "allowed": allow_flex}
    culprits = layers_causing(model, flex)
    types = sorted({t for t, _ in culprits})
    named = (f"from layer type(s) {', '.join(types)} "
             f"({', '.join(repr(n) for _, n in culprits)})" if culprits
             else "from layers that could not be traced")
    report = {"ops": flex, "layers": [{"type": t, "name": n} for t, n in culprits],
              "allowed": allow_flex}
    if not allow_flex:
        raise FlexOpsError(
            f"{model.name}: the TFLite model needs Flex (SELECT_TF_OPS) op(s) "
            f"{', '.join(flex)} {named}; phone runtimes without the Flex delegate cannot "
            f"run them. Replace those layers with TFLite builtins, or pass --allow_flex "
            f"(allow_flex=True) to keep them.")
    return report
