/**
 * NonZero: the indices of x's nonzero elements, [rank, count] int64 in
 * row-major order. Its output's shape is its input's values: computed at
 * plan time when x is known, else per run (`dynamic`), the rest of the
 * graph planned for the count it gives.
 */
import type { TensorData } from "../../onnx/dtype.ts";
import type { Node } from "../ir.ts";
import { fail, type Meta, meta, need, type OpDef, sizeOf } from "./op.ts";

/** The indices of the nonzero elements of x (dims), as NonZero gives them. */
function nonzero(dims: readonly number[], x: TensorData): BigInt64Array {
  const rank = dims.length, size = sizeOf(dims);
  let count = 0;
  for (let i = 0; i < size; i++) if (Number(x[i]) !== 0) count++;
  const out = new BigInt64Array(rank * count);
  const idx = new Array<number>(rank).fill(0);
  let k = 0;
  for (let i = 0; i < size; i++) {
    if (Number(x[i]) !== 0) {
      for (let d = 0; d < rank; d++) out[d * count + k] = BigInt(idx[d]);
      k++;
    }
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < dims[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

function check(n: Node, x: Meta): void {
  if (x.dims.length === 0) fail(n, "a scalar input is not supported");
  if (x.type === "float16" as never) fail(n, "float16 input is not supported");
}

const NONZERO: OpDef = {
  attributes: [],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    check(n, x);
    if (x.data === null) {
      fail(n, "its output's shape is its input's values: planned per run (data-dependent shapes)");
    }
    const data = nonzero(x.dims, x.data);
    return [{ ...meta("int64", [x.dims.length, data.length / x.dims.length]), data }];
  },
  dynamic(n, ins) {
    const x = ins[0]!;
    check(n, x);
    const data = nonzero(x.dims, x.data);
    return [{ type: "int64", dims: [x.dims.length, data.length / x.dims.length], data }];
  },
  build: () => null,
};

/** NonZero. */
export const NONZERO_OPS: Record<string, OpDef> = { NonZero: NONZERO };
