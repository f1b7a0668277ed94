"""Small ONNX files for the governance tests, built with onnx.helper (no training): a valid risk model of
any width, and the kinds of file an upload must refuse."""

import pickle
from pathlib import Path

import numpy
from onnx import TensorProto, helper, numpy_helper

from mlgov.features import FEATURE_SCHEMAS

BASELINE = Path(__file__).resolve().parents[2] / "mlgov" / "data" / "baseline-v1.onnx"
WIDTH = len(FEATURE_SCHEMAS["1"])


def risk_model(width: int = WIDTH, *, output: str = "probabilities", domain: str = "", external: bool = False) -> bytes:
    """input [batch, width] -> Softmax(input @ W) as `output` [batch, 2]."""
    weights = numpy_helper.from_array(numpy.full((width, 2), 0.1, dtype=numpy.float32), name="W")
    if external:
        weights.ClearField("raw_data")
        weights.data_location = TensorProto.EXTERNAL
        weights.external_data.add(key="location", value="weights.bin")
    nodes = [
        helper.make_node("MatMul", ["input", "W"], ["logits"]),
        helper.make_node("Softmax", ["logits"], [output], axis=1),
    ]
    opsets = [helper.make_opsetid("", 17)]
    if domain:
        nodes.append(helper.make_node("Evil", ["logits"], ["side"], domain=domain))
        opsets.append(helper.make_opsetid(domain, 1))
    outputs = [helper.make_tensor_value_info(output, TensorProto.FLOAT, [None, 2])]
    if domain:
        outputs.append(helper.make_tensor_value_info("side", TensorProto.FLOAT, [None, 2]))
    graph = helper.make_graph(
        nodes,
        "risk",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, width])],
        outputs,
        initializer=[weights],
    )
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    return model.SerializeToString()


def pickled() -> bytes:
    return pickle.dumps({"model": "not onnx"})
