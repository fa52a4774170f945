"""ONNX's node test cases written out as backend test data, for tools/onnx_backend.ts.

The onnx wheel ships the cases (onnx/backend/test/case/node, each an op with its
attributes, inputs and numpy's expected outputs) but not their data directories.
This writes each case whose inputs and outputs are all tensors as
OUT/node/<name>/model.onnx and test_data_set_<i>/{input,output}_<j>.pb, the layout
onnx's repository has under onnx/backend/test/data/node. Sequence and optional
cases are left out. A dev tool (the library takes nothing from Python):

    pip install onnx
    python3 tools/onnx_node_data.py /tmp/onnxdata
    deno run -A tools/onnx_backend.ts /tmp/onnxdata/node
"""

import os
import shutil
import sys

import numpy as np
from onnx import numpy_helper
from onnx.backend.test.case import node


def main(out: str) -> None:
    written = left_out = 0
    for case in node.collect_testcases(None):
        at = os.path.join(out, "node", case.name)
        try:
            os.makedirs(at, exist_ok=True)
            with open(os.path.join(at, "model.onnx"), "wb") as f:
                f.write(case.model.SerializeToString())
            graph = case.model.graph
            for i, (inputs, outputs) in enumerate(case.data_sets):
                data = os.path.join(at, f"test_data_set_{i}")
                os.makedirs(data, exist_ok=True)
                for kind, values, infos in (
                    ("input", inputs, graph.input),
                    ("output", outputs, graph.output),
                ):
                    for j, value in enumerate(values):
                        t = numpy_helper.from_array(np.asarray(value), infos[j].name)
                        with open(os.path.join(data, f"{kind}_{j}.pb"), "wb") as f:
                            f.write(t.SerializeToString())
            written += 1
        except Exception:  # a sequence or optional value: not a tensor
            left_out += 1
            shutil.rmtree(at, ignore_errors=True)
    print(f"{written} cases written to {out}/node, {left_out} left out (not tensors)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/onnxdata")
