/**
 * RotaryEmbedding (opset 23), as the ONNX reference computes it: X as 4-D
 * [batch, heads, sequence, head size] or 3-D [batch, sequence, heads·size]
 * (num_heads); the first rotary_embedding_dim (0: all) of each head rotated
 * by cos/sin — taken at position_ids from [max position, dim/2] caches, or
 * given as [batch, sequence, dim/2] — in halves or interleaved pairs:
 * real = cos·x1 − sin·x2, imag = sin·x1 + cos·x2 (each product and sum a
 * float32); the rest of the head copied. One `jit.rotary` call: a native
 * step, or with run-time position_ids a split step (the ids read on the
 * calling thread, the rotation with the native steps).
 */
import type { TensorData } from "../../onnx/dtype.ts";
import type { RotaryOptions } from "../../kernels/rotary/mod.ts";
import { expectType, fail, meta, need, type OpDef, splitStep } from "./op.ts";

const ROTARY: OpDef = {
  attributes: ["interleaved", "num_heads", "rotary_embedding_dim"],
  infer(n, ins) {
    const [x, cos, sin, pos] = need(n, ins, 3, 4);
    for (const [m, i] of [[x, 0], [cos, 1], [sin, 2]] as const) expectType(n, m, i, "float32");
    if (pos) expectType(n, pos, 3, "int64");
    if (x.dims.length !== 3 && x.dims.length !== 4) fail(n, "X must be 3-D or 4-D");
    if (x.dims.length === 3 && n.attrs.int("num_heads", 0) < 1) fail(n, "3-D X needs num_heads");
    if (cos.dims.join() !== sin.dims.join()) fail(n, "cos_cache and sin_cache differ in shape");
    return [meta("float32", x.dims)];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!, cosB = ins[1]!, sinB = ins[2]!, pos = ins[3] ?? null, y = outs[0];
    const four = x.dims.length === 4;
    const [B, H, S, D] = four ? x.dims : [
      x.dims[0],
      n.attrs.int("num_heads", 1),
      x.dims[1],
      x.dims[2] / n.attrs.int("num_heads", 1),
    ];
    if (!Number.isInteger(D)) fail(n, "the hidden size does not divide into num_heads");
    const rot = n.attrs.int("rotary_embedding_dim", 0) || D, half = rot / 2;
    if (rot > D || rot % 2) fail(n, `rotary_embedding_dim ${rot} must be even and ≤ ${D}`);
    const interleaved = n.attrs.int("interleaved", 0) !== 0;
    const cd = cosB.dims;
    if (cd[cd.length - 1] !== half) fail(n, `the caches' last dimension must be ${half}`);
    if (pos) {
      if (cd.length !== 2 || pos.dims.join() !== [B, S].join()) {
        fail(
          n,
          "with position_ids: caches [max position, dim/2] and position_ids [batch, sequence]",
        );
      }
    } else if (cd.join() !== [B, S, half].join()) {
      fail(n, `without position_ids the caches must be [${B}, ${S}, ${half}]`);
    }
    const xd = x.data as Float32Array, yd = y.data as Float32Array;
    const maxPos = pos ? cd[0] : 0;
    // Each token's row of the caches: position_ids read into int32, checked here with the
    // node's name (jit.rotary checks them again before its kernel reads them).
    const positions = pos ? new Int32Array(B * S) : undefined;
    const options: RotaryOptions = {
      batch: B,
      sequence: S,
      heads: H,
      headSize: D,
      rotaryDim: rot,
      layout: four ? "bhsd" : "bshd",
      interleaved,
      cos: cosB.data as Float32Array,
      sin: sinB.data as Float32Array,
      ...(positions ? { positions } : {}),
    };
    const call = () => env.jit.rotary(xd, yd, options);
    if (!pos) return { native: true, run: call };
    const readPositions = () => {
      const ids = pos.data as TensorData;
      for (let i = 0; i < B * S; i++) {
        const p = Number(ids[i]);
        if (!(p >= 0 && p < maxPos)) {
          throw new RangeError(
            `${n.op} node '${n.name}': position ${p} is outside 0..${maxPos - 1}`,
          );
        }
        positions![i] = p;
      }
    };
    if (pos.constant) {
      readPositions();
      return { native: true, run: call };
    }
    // The ids are this run's values: read on the calling thread, the rotation with the native
    // steps after it (off the event loop in `run`).
    return splitStep(readPositions, call);
  },
};

/** The RotaryEmbedding definition. */
export const ROTARY_OPS: Record<string, OpDef> = { RotaryEmbedding: ROTARY };
