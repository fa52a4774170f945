/**
 * RotaryEmbedding (opset 23), as the ONNX reference computes it: X as 4-D
 * [batch, heads, sequence, head size] or 3-D [batch, sequence, heads·size]
 * (num_heads); the first rotary_embedding_dim (0: all) of each head rotated
 * by cos/sin — taken at position_ids from [max position, dim/2] caches, or
 * given as [batch, sequence, dim/2] — in halves or interleaved pairs:
 * real = cos·x1 − sin·x2, imag = sin·x1 + cos·x2 (each product and sum a
 * float32); the rest of the head copied. A TypeScript step.
 */
import type { TensorData } from "../../onnx/dtype.ts";
import { expectType, fail, meta, need, type OpDef } from "./op.ts";

const f = Math.fround;

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
  build(n, ins, outs) {
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
    const cs = cosB.data as Float32Array, sn = sinB.data as Float32Array;
    const maxPos = pos ? cd[0] : 0;
    // Element (b, h, s, d) of X and Y.
    const at = (b: number, h: number, s: number) =>
      four ? ((b * H + h) * S + s) * D : ((b * S + s) * H + h) * D;
    return {
      native: false,
      run: () => {
        for (let b = 0; b < B; b++) {
          for (let s = 0; s < S; s++) {
            let row = b * S + s;
            if (pos) {
              const p = Number((pos.data as TensorData)[b * S + s]);
              if (!(p >= 0 && p < maxPos)) {
                throw new RangeError(
                  `${n.op} node '${n.name}': position ${p} is outside 0..${maxPos - 1}`,
                );
              }
              row = p;
            }
            const c0 = row * half;
            for (let h = 0; h < H; h++) {
              const o = at(b, h, s);
              for (let i = 0; i < half; i++) {
                const i1 = interleaved ? 2 * i : i, i2 = interleaved ? 2 * i + 1 : i + half;
                const x1 = xd[o + i1], x2 = xd[o + i2], c = cs[c0 + i], si = sn[c0 + i];
                yd[o + i1] = f(f(c * x1) - f(si * x2));
                yd[o + i2] = f(f(si * x1) + f(c * x2));
              }
              for (let d = rot; d < D; d++) yd[o + d] = xd[o + d];
            }
          }
        }
      },
    };
  },
};

/** The RotaryEmbedding definition. */
export const ROTARY_OPS: Record<string, OpDef> = { RotaryEmbedding: ROTARY };
