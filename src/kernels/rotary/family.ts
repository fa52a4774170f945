/**
 * Rotary position embedding as an op family: what ONNX RotaryEmbedding
 * computes, and GroupQueryAttention's rotation of Q and K.
 *
 * @module
 */
import type { OpFamily, Part } from "../family.ts";
import { splitRange } from "../partition.ts";
import { generateRotary, planRotary, type RotaryPlan, rotaryStrides } from "./generate.ts";
import { decodeRotaryKey, ROTARY_KEY_FIELDS, type RotarySpec } from "./read.ts";

/** y = x with each head's pairs rotated by the token's cos/sin row; operands x, cos, sin, positions, y. */
export const ROTARY: OpFamily<RotarySpec, RotaryPlan> = {
  name: "rotary",
  keyFields: ROTARY_KEY_FIELDS,
  operands: ["x", "cos", "sin", "positions", "y"],
  outputs: 1,
  inPlace: true,
  decode: decodeRotaryKey,
  describe: (s) =>
    `rotary ${s.batch}×${s.sequence}×${s.heads}×${s.headSize} ${
      s.headsFirst ? "bhsd" : "bshd"
    } dim ${2 * s.half}${s.interleaved ? " interleaved" : ""}${
      s.positionRows ? ` positions of ${s.positionRows}` : ""
    }`,
  cost: (s) => {
    const pairs = s.batch * s.sequence * s.heads * s.half;
    return { flops: 6 * pairs, bytes: 8 * s.batch * s.sequence * s.heads * s.headSize };
  },
  plan: (s, t) => planRotary(s, t.isa),
  fallbackPlan: (s) => planRotary(s, "scalar"),
  generate: generateRotary,
  partition: rotaryParts,
  reference: (s, [x, cos, sin, positions, y]) => rotaryReference(s, x, cos, sin, positions, y),
};

/**
 * Parts over items, or over an item's tokens when there is one item (every
 * token is computed alone: any split gives the same bits).
 */
function rotaryParts(
  s: RotarySpec,
  plan: RotaryPlan,
  parts: number,
): Part<RotarySpec, RotaryPlan>[] | null {
  const st = rotaryStrides(s), byItem = s.batch > 1;
  const ranges = splitRange(byItem ? s.batch : s.sequence, parts);
  if (ranges.length < 2) return null;
  return ranges.map((r) => {
    // The part's first token: its x and y, its positions, and its own cache row without them.
    const token = byItem ? r.start * s.sequence : r.start;
    const o = 4 * (byItem ? r.start * st.item : r.start * st.token);
    const row = s.positionRows ? 0 : 4 * token * s.half;
    return {
      spec: byItem ? { ...s, batch: r.count } : { ...s, sequence: r.count },
      plan,
      offsets: [o, row, row, 4 * token, o],
    };
  });
}

/**
 * The computation in f32 steps, as the kernel and ONNX's reference order
 * them: real = cos·x1 − sin·x2, imag = sin·x1 + cos·x2. `positions` is the
 * int32 array's float32 view (unused without positions).
 */
export function rotaryReference(
  s: RotarySpec,
  x: Float32Array,
  cos: Float32Array,
  sin: Float32Array,
  positions: Float32Array,
  y: Float32Array,
): void {
  const f = Math.fround, st = rotaryStrides(s), half = s.half;
  const pos = new Int32Array(positions.buffer, positions.byteOffset, positions.length);
  for (let b = 0; b < s.batch; b++) {
    for (let t = 0; t < s.sequence; t++) {
      const token = b * s.sequenceStride + t;
      const row = s.positionRows ? pos[token] : token;
      if (s.positionRows && !(row >= 0 && row < s.positionRows)) continue;
      for (let h = 0; h < s.heads; h++) {
        const o = b * st.item + t * st.token + h * st.head;
        for (let i = 0; i < half; i++) {
          const i1 = s.interleaved ? 2 * i : i, i2 = s.interleaved ? 2 * i + 1 : i + half;
          const x1 = x[o + i1], x2 = x[o + i2], c = cos[row * half + i], si = sin[row * half + i];
          y[o + i1] = f(f(c * x1) - f(si * x2));
          y[o + i2] = f(f(si * x1) + f(c * x2));
        }
        for (let d = 2 * half; d < s.headSize; d++) y[o + d] = x[o + d];
      }
    }
  }
}
