"""A script that runs a TF.js graph model with TensorFlow on a fixed input.

Executed only inside the throwaway conversion environment that
``nrsc models install`` builds (TensorFlow is never a run-time dependency):

    python tfjs_reference.py model.json input.npy outputs.npz

It rebuilds the TensorFlow GraphDef that the TF.js converter serialised
(topology in JSON, weights in the .bin shards, float16-quantised or not),
runs it, and writes every signature output, so the ONNX conversion can be
checked against the original graph.
"""

SCRIPT = r'''import json
import sys
from pathlib import Path

import numpy as np

DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "uint8": np.uint8, "int64": np.int64}


def load_weights(model_json: Path, manifest: list) -> dict:
    out = {}
    for group in manifest:
        data = b"".join((model_json.parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            shape = w["shape"]
            count = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if q:
                qd = np.dtype({"float16": np.float16, "uint8": np.uint8, "uint16": np.uint16}[q["dtype"]])
                raw = np.frombuffer(data, qd, count, offset)
                offset += count * qd.itemsize
                if q["dtype"] == "float16":
                    arr = raw.astype(np.float32)
                else:
                    arr = raw.astype(np.float32) * q["scale"] + q["min"]
            else:
                dt = np.dtype(DTYPES[w["dtype"]])
                arr = np.frombuffer(data, dt, count, offset).copy()
                offset += count * dt.itemsize
            out[w["name"]] = arr.reshape(shape)
    return out


def main() -> None:
    # Imported here: this file lives in the package but runs only in the
    # conversion venv, and the package's modules must import without TensorFlow.
    import tensorflow as tf
    from google.protobuf import json_format

    model_json, input_npy, out_npz = (Path(a) for a in sys.argv[1:4])
    spec = json.loads(model_json.read_text())
    graph_def = json_format.ParseDict(spec["modelTopology"], tf.compat.v1.GraphDef())
    weights = load_weights(model_json, spec["weightsManifest"])
    for node in graph_def.node:
        if node.op == "Const" and node.name in weights:
            dtype = tf.dtypes.as_dtype(node.attr["dtype"].type)
            arr = weights[node.name].astype(dtype.as_numpy_dtype)
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(arr, dtype=dtype, shape=arr.shape))
    x = np.load(input_npy)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    names = list(spec["signature"]["outputs"])
    input_name = next(iter(spec["signature"]["inputs"]))
    with tf.compat.v1.Session(graph=graph) as sess:
        values = sess.run(names, {input_name: x})
    np.savez(out_npz, **{n: v for n, v in zip(names, values)})


if __name__ == "__main__":
    main()
'''
