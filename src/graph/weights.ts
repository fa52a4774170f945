/**
 * Constant weights packed once per session (GEMM's packed B, convolution
 * weights), shared by every plan (input shape) that uses them.
 */
import type { ConvWeights, ConvWeightsOptions } from "../kernels/conv/mod.ts";
import { narrowB, type PackBOptions, type PackedB } from "../kernels/gemm/mod.ts";
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

  /**
   * op(B) packed for GEMM (k × n), in panels: a model's products read its
   * weights as one stream per thread. Measured on Zen 5 (`bench/gemv_layouts.ts`,
   * 1 and 2 threads) against rows: 1.10-1.12× and 1.42-1.97× at 1×1024×
   * 1024 and 1×1024×784 (batch 1: bound by reading B), 1.02-1.16× at 64 and
   * 128 rows (MLP and BERT shapes), 0.94-0.97× at 128×768×3072 (before
   * its K blocks). A B narrower than a vector goes as Bᵀ instead (gemm's narrowB:
   * its products are then dot products along k).
   *
   * `rows`: the rows of A it is read with, where create knows them
   * (static_shapes.ts). One row at AVX2 (a batch-1 Linear, a classifier's
   * last Gemm) takes Bᵀ too: the dot products read 8 rows of Bᵀ at once, 8
   * streams where a panel is one, which a B from memory needs. Zen 3, B
   * from memory (`deno run -A bench/gemv_layouts.ts --cold`), panels → Bᵀ,
   * 1 and 2 threads: 1×1000×2048 735 → 457 and 526 → 388 µs, 1×1024×1024
   * 366 → 272 and 289 → 234, 1×4096×1024 1411 → 1129 and 1067 → 841; B in
   * cache (no --cold) 138 → 126 and 73 → 65 at 1×1000×2048. Those panels
   * ran 1×32 tiles; with AVX2's whole-panel 1×64 tile (gemm/panels.ts,
   * later) the same command, checkouts of 9c4dc1c and ef11b4f in turn,
   * put 1×1000×2048 at 489-535 µs in panels against 412-449 as Bᵀ at 1
   * thread: Bᵀ still reads faster. Not measured on AVX-512: panels there.
   * Without `rows` (a plan's build): the copy packed at create, whichever
   * layout it took.
   */
  packB(b: Float32Array, options: PackBOptions, rows?: number): PackedB {
    const isa = this.#jit.isa;
    const columns = narrowB(isa, options.n) || (rows === 1 && isa === "avx2");
    const o: PackBOptions = { layout: columns ? "columns" : "panels", ...options };
    const key = `${o.k},${o.n},${o.transB ? 1 : 0},${o.ldb ?? 0}`;
    let m = this.#b.get(b);
    if (!m) this.#b.set(b, m = new Map());
    let p = m.get(key);
    if (!p) {
      m.set(key, p = this.#jit.packB(b, o));
      this.count++;
    }
    return p;
  }

  /** Forgets every packed weight (a released session's: `count` stays what it packed). */
  clear(): void {
    this.#b.clear();
    this.#conv.clear();
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
      // In place: a session's constants never change (an adopted one is a view of the bytes
      // read, native/large_memory.ts): the ONNX layout needs no copy.
      m.set(key, p = this.#jit.packConvWeights(w, { ...options, inPlace: true }));
      this.count++;
    }
    return p;
  }
}
