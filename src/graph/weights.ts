/**
 * Constant weights packed once per session (GEMM's packed B, convolution
 * weights), shared by every plan (input shape) that uses them.
 */
import type { ConvWeights, ConvWeightsOptions } from "../kernels/conv/mod.ts";
import type { PackBOptions, PackedB } from "../kernels/gemm/mod.ts";
import type { Jit } from "../runtime/jit.ts";

export class WeightCache {
  readonly #jit: Jit;
  readonly #b = new Map<Float32Array, Map<string, PackedB>>();
  readonly #conv = new Map<Float32Array, Map<string, ConvWeights>>();

  /** Weight tensors packed so far. */
  count = 0;

  constructor(jit: Jit) {
    this.#jit = jit;
  }

  /** op(B) packed for GEMM (k × n). */
  packB(b: Float32Array, options: PackBOptions): PackedB {
    const key = `${options.k},${options.n},${options.transB ? 1 : 0},${options.ldb ?? 0}`;
    let m = this.#b.get(b);
    if (!m) this.#b.set(b, m = new Map());
    let p = m.get(key);
    if (!p) {
      m.set(key, p = this.#jit.packB(b, options));
      this.count++;
    }
    return p;
  }

  /** Convolution weights packed for their shape. */
  conv(w: Float32Array, options: ConvWeightsOptions): ConvWeights {
    const o = options;
    const key = `${o.outChannels},${o.c},${o.kernel.join("x")},${o.group ?? 1},${
      o.transposed ? 1 : 0
    }`;
    let m = this.#conv.get(w);
    if (!m) this.#conv.set(w, m = new Map());
    let p = m.get(key);
    if (!p) {
      m.set(key, p = this.#jit.packConvWeights(w, options));
      this.count++;
    }
    return p;
  }
}
