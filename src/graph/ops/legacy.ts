/**
 * Opset 6 and older's limited broadcasting (Add, Sub, Mul, Div, Pow, And,
 * Or, Xor, Equal, Greater, Less with broadcast = 1 and an axis): B's
 * dimensions line up with A's from `axis` on. The loader puts a
 * LegacyBroadcast (domain "njit") on B: B viewed with trailing 1s, so the
 * op's numpy broadcasting computes the same thing.
 */
import { fail, type Meta, need, type OpDef } from "./op.ts";

/** B (input 0) viewed as [...B.dims, 1…] so its dims start at A's (input 1) `axis`. */
export const LEGACY_BROADCAST: OpDef = {
  attributes: ["axis"],
  alias: true,
  infer(n, ins) {
    const [b, a] = need(n, ins, 2) as Meta[];
    const rank = a.dims.length;
    let axis = n.attrs.int("axis", 0);
    if (axis < 0) axis += rank;
    const pad = rank - axis - b.dims.length;
    if (axis < 0 || pad < 0) {
      fail(n, `B [${b.dims.join(", ")}] does not fit A [${a.dims.join(", ")}] from axis ${axis}`);
    }
    for (let i = 0; i < b.dims.length; i++) {
      const d = b.dims[i], want = a.dims[axis + i];
      if (d !== want && d !== 1) {
        fail(
          n,
          `B [${b.dims.join(", ")}] does not match A [${a.dims.join(", ")}] from axis ${axis}`,
        );
      }
    }
    return [{ type: b.type, dims: [...b.dims, ...new Array(pad).fill(1)], data: b.data }];
  },
  build: () => null,
};
