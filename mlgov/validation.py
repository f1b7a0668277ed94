"""Is an uploaded file a model we may run? Checked before anything is stored, and never by unpickling.

An ONNX file is a protobuf; a hostile one can still make onnxruntime read other files (external data,
resolved from the current directory), or run code outside the standard operator sets (custom-op domains,
model-local functions). So a model is refused unless: it is at most MLMODEL_MAX_BYTES; it is not a pickle or
a zip archive (joblib, PyTorch); onnx parses it without loading external data and its checker passes; no
tensor anywhere refers to external data; it defines no functions; every opset and every node is in the
standard domains ("" and "ai.onnx.ml"); onnxruntime builds a session from the bytes (CPU only); and, for a
known feature-schema version, its one input is a float tensor [batch, the schema's width] and its
`probabilities` output answers [batch, 2] with values in [0, 1] for a batch of zeros.
"""

from dataclasses import dataclass

from django.conf import settings

from spotopt.errors import DomainError

from .features import PROBABILITIES_OUTPUT, features_of

ALLOWED_DOMAINS = {"", "ai.onnx", "ai.onnx.ml"}
PICKLE_PROTOCOL_MARK = 0x80


class ModelRefused(DomainError):
    code = "model_refused"


@dataclass(frozen=True)
class ModelInspection:
    input_name: str
    width: int | None
    outputs: tuple[str, ...]
    opsets: dict[str, int]
    producer: str


def _graphs(graph):
    """The graph and every sub-graph its nodes carry (If / Loop / Scan bodies)."""
    import onnx

    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(attribute.g)
            elif attribute.type == onnx.AttributeProto.GRAPHS:
                for sub in attribute.graphs:
                    yield from _graphs(sub)


def _tensors(graph):
    import onnx

    yield from graph.initializer
    yield from (sparse.values for sparse in graph.sparse_initializer)
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.TENSOR:
                yield attribute.t
            elif attribute.type == onnx.AttributeProto.TENSORS:
                yield from attribute.tensors


def refuse_oversized(size: int) -> None:
    limit = settings.MLMODEL_MAX_BYTES
    if size > limit:
        raise ModelRefused(f"The file is {size:,} bytes; models may be at most {limit:,} bytes.")


def model_inspect(data: bytes, *, feature_schema_version: str) -> ModelInspection:
    """The model's interface if it may be run, else ModelRefused saying why."""
    import onnx
    from google.protobuf.message import DecodeError

    if not data:
        raise ModelRefused("The file is empty.")
    refuse_oversized(len(data))
    if data[0] == PICKLE_PROTOCOL_MARK:
        raise ModelRefused("This is a Python pickle, not an ONNX model: pickles are never loaded (they run code).")
    if data[:4] == b"PK\x03\x04":
        raise ModelRefused("This is a zip archive (e.g. a joblib or PyTorch file), not an ONNX model.")
    try:
        model = onnx.ModelProto.FromString(data)  # a plain protobuf parse: no external data is read
    except (DecodeError, ValueError, RuntimeError) as error:
        raise ModelRefused(f"This is not a valid ONNX model ({str(error).splitlines()[0][:200]}).") from None
    if not model.graph.node:
        raise ModelRefused("This is not an ONNX model: it has no graph.")
    if model.functions:
        raise ModelRefused("The model defines its own functions; only standard ONNX operators are accepted.")
    for opset in model.opset_import:
        if opset.domain not in ALLOWED_DOMAINS:
            raise ModelRefused(f"The model uses the custom operator domain '{opset.domain}'; only standard ones run.")
    for graph in _graphs(model.graph):
        for node in graph.node:
            if node.domain not in ALLOWED_DOMAINS:
                raise ModelRefused(f"The node {node.op_type} is in the custom domain '{node.domain}'.")
        for tensor in _tensors(graph):
            if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
                raise ModelRefused("The model refers to external data files; a model must be one self-contained file.")
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError, RuntimeError) as error:
        raise ModelRefused(f"This is not a valid ONNX model ({str(error).splitlines()[0][:200]}).") from None
    session = _session(data)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    output_names = tuple(o.name for o in outputs)
    inspection = ModelInspection(
        input_name=inputs[0].name if inputs else "",
        width=_width(inputs[0].shape) if inputs else None,
        outputs=output_names,
        opsets={o.domain or "ai.onnx": o.version for o in model.opset_import},
        producer=f"{model.producer_name} {model.producer_version}".strip(),
    )
    features = features_of(feature_schema_version)
    if features is not None:
        _check_interface(session, inputs, output_names, len(features), feature_schema_version)
    return inspection


def _session(data: bytes):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        return onnxruntime.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types
        raise ModelRefused(f"onnxruntime cannot run this model ({str(error).splitlines()[0][:200]}).") from None


def _width(shape) -> int | None:
    return shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None


def _check_interface(session, inputs, output_names, width: int, version: str) -> None:
    import numpy

    if len(inputs) != 1:
        raise ModelRefused(f"The model takes {len(inputs)} inputs; feature schema {version} gives one.")
    (given,) = inputs
    if given.type != "tensor(float)" or len(given.shape) != 2 or _width(given.shape) != width:
        raise ModelRefused(
            f"The model's input '{given.name}' is {given.type} {given.shape}; feature schema {version} gives "
            f"tensor(float) [batch, {width}]."
        )
    if PROBABILITIES_OUTPUT not in output_names:
        raise ModelRefused(
            f"The model has no '{PROBABILITIES_OUTPUT}' output (it has {', '.join(output_names)}): export it with "
            "the class probabilities as a tensor (skl2onnx: zipmap off)."
        )
    try:
        (answer,) = session.run([PROBABILITIES_OUTPUT], {given.name: numpy.zeros((3, width), dtype=numpy.float32)})
    except Exception as error:
        raise ModelRefused(f"The model fails on a batch of zeros ({str(error).splitlines()[0][:200]}).") from None
    answer = numpy.asarray(answer)
    if answer.shape != (3, 2) or not numpy.all((answer >= 0) & (answer <= 1)):
        raise ModelRefused(
            f"The model's '{PROBABILITIES_OUTPUT}' answer is {answer.shape}, not [batch, 2] probabilities in [0, 1]."
        )
