/**
 * The boundary under random mistakes: a valid call of one of the Jit's ops
 * (gemm, conv2d, convTranspose2d, pool, resize, softmax, layerNorm, rmsNorm,
 * reduce, unary, binary, copy, batchNorm, foldBatchNorm, packB,
 * packConvWeights, attention, rotary, packTrees, treeLeaves, squaredDistances, select) with one to three of its arguments or options replaced
 * by a wrong value (negative, fractional, NaN, ±Infinity, 2^31, a string,
 * null, an array or typed array of the wrong kind or length, an object):
 * the call must return or throw a TypeError or RangeError, never another
 * error and never crash
 * (a crash ends the campaign; `--from` the seed it printed last reruns it).
 *
 * @module
 */
import { type Jit, PackedTrees, type TreesDescription } from "../../mod.ts";
import { type CaseResult, type FuzzOptions, int, type JitSet, pick, rng } from "./shared.ts";

type Args = unknown[];
type Call = { name: string; args: Args; run: (jit: Jit, args: Args) => unknown };

const f32 = (n: number) => new Float32Array(n).fill(0.5);

/** A wrong value for a slot holding `v`. */
function wrong(r: () => number, v: unknown): unknown {
  const given = v instanceof Float32Array ? v.length : typeof v === "number" ? v : 4;
  const n = Number.isSafeInteger(given) && given >= 0 && given < 1 << 20 ? given : 4;
  return pick(r, [
    -1,
    0,
    1.5,
    NaN,
    Infinity,
    -Infinity,
    2 ** 31,
    2 ** 53,
    "3",
    null,
    undefined,
    true,
    [],
    [1, 2, 3],
    {},
    4n,
    new Float32Array(Math.max(0, n - 1)),
    new Float32Array(n + 1).subarray(1),
    new Float64Array(Math.max(1, n)),
    new Int32Array(Math.max(1, n)),
    new Float32Array(0),
    typeof v === "number" ? v + int(r, 1, 3) : v,
    typeof v === "number" ? -v : v,
  ]);
}

/** Full trees of depth 2 (one to three) over `features`: a valid forest. */
function trees(r: () => number, features: number): TreesDescription {
  const count = int(r, 1, 3), n = 7 * count;
  const inner = (i: number) => i % 7 < 3;
  return {
    test: pick(r, ["leq", "lt", "gte", "gt", "eq", "neq"] as const),
    feature: Int32Array.from({ length: n }, (_, i) => inner(i) ? int(r, 0, features - 1) : 0),
    threshold: Float32Array.from({ length: n }, () => r() * 2 - 1),
    yes: Int32Array.from({ length: n }, (_, i) => inner(i) ? i + (i % 7) + 1 : -1),
    no: Int32Array.from({ length: n }, (_, i) => inner(i) ? i + (i % 7) + 2 : -1),
    missingYes: Uint8Array.from({ length: n }, () => r() < 0.5 ? 1 : 0),
    roots: Int32Array.from({ length: count }, (_, t) => 7 * t),
  };
}

/** A valid call of a random op. */
function validCall(r: () => number): Call {
  const m = int(r, 1, 9), n = int(r, 1, 9), k = int(r, 1, 9);
  const c = int(r, 1, 6), h = int(r, 1, 7), w = int(r, 1, 7), oc = int(r, 1, 6);
  const rows = int(r, 1, 5), cols = int(r, 1, 40);
  const pick1 = pick(r, [
    "gemm",
    "conv2d",
    "convTranspose2d",
    "pool",
    "resize",
    "softmax",
    "layerNorm",
    "rmsNorm",
    "reduce",
    "unary",
    "binary",
    "copy",
    "batchNorm",
    "foldBatchNorm",
    "packB",
    "packConvWeights",
    "attention",
    "rotary",
    "packTrees",
    "treeLeaves",
    "squaredDistances",
    "select",
  ]);
  switch (pick1) {
    case "gemm":
      return {
        name: "gemm",
        args: [f32(m * k), f32(k * n), f32(m * n), { m, n, k, bias: f32(n), activation: "relu" }],
        run: (j, a) => j.gemm(...(a as Parameters<Jit["gemm"]>)),
      };
    case "conv2d": {
      const oh = h, ow = w;
      return {
        name: "conv2d",
        args: [f32(c * h * w), f32(oc * c * 9), f32(oc * oh * ow), {
          n: 1,
          c,
          h,
          w,
          outChannels: oc,
          kernel: [3, 3],
          pads: [1, 1, 1, 1],
          strides: [1, 1],
          dilations: [1, 1],
          group: 1,
          bias: f32(oc),
          activation: "relu",
        }],
        run: (j, a) => j.conv2d(...(a as Parameters<Jit["conv2d"]>)),
      };
    }
    case "convTranspose2d":
      return {
        name: "convTranspose2d",
        args: [f32(c * h * w), f32(c * oc * 4), f32(oc * 2 * h * 2 * w), {
          n: 1,
          c,
          h,
          w,
          outChannels: oc,
          kernel: [2, 2],
          strides: [2, 2],
          bias: f32(oc),
        }],
        run: (j, a) => j.convTranspose2d(...(a as Parameters<Jit["convTranspose2d"]>)),
      };
    case "pool":
      return {
        name: "pool",
        args: ["max", f32(c * h * w), f32(c * h * w), {
          n: 1,
          c,
          h,
          w,
          kernel: [3, 3],
          strides: [1, 1],
          pads: [1, 1, 1, 1],
        }],
        run: (j, a) => j.pool(...(a as Parameters<Jit["pool"]>)),
      };
    case "resize":
      return {
        name: "resize",
        args: [f32(c * h * w), f32(c * 2 * h * 2 * w), {
          n: 1,
          c,
          h,
          w,
          outH: 2 * h,
          outW: 2 * w,
          mode: "cubic",
          coordinateTransformationMode: "tf_crop_and_resize",
          roi: [0.1, -0.2, 0.9, 1.3],
          extrapolationValue: 2,
          antialias: true,
          excludeOutside: true,
        }],
        run: (j, a) => j.resize(...(a as Parameters<Jit["resize"]>)),
      };
    case "softmax":
      return {
        name: "softmax",
        args: [f32(rows * cols), f32(rows * cols), { rows, cols }],
        run: (j, a) => j.softmax(...(a as Parameters<Jit["softmax"]>)),
      };
    case "layerNorm":
      return {
        name: "layerNorm",
        args: [f32(rows * cols), f32(rows * cols), {
          rows,
          cols,
          scale: f32(cols),
          bias: f32(cols),
          epsilon: 1e-5,
        }],
        run: (j, a) => j.layerNorm(...(a as Parameters<Jit["layerNorm"]>)),
      };
    case "rmsNorm":
      return {
        name: "rmsNorm",
        args: [f32(rows * cols), f32(rows * cols), { rows, cols, scale: f32(cols) }],
        run: (j, a) => j.rmsNorm(...(a as Parameters<Jit["rmsNorm"]>)),
      };
    case "reduce":
      return {
        name: "reduce",
        args: ["mean", f32(rows * cols), f32(rows), { rows, cols }],
        run: (j, a) => j.reduce(...(a as Parameters<Jit["reduce"]>)),
      };
    case "unary":
      return {
        name: "unary",
        args: ["leakyRelu", f32(cols), f32(cols), { alpha: 0.1 }],
        run: (j, a) => j.unary(...(a as Parameters<Jit["unary"]>)),
      };
    case "binary":
      return {
        name: "binary",
        args: ["add", f32(rows * cols), [rows, cols], f32(cols), [cols], f32(rows * cols)],
        run: (j, a) => j.binary(...(a as Parameters<Jit["binary"]>)),
      };
    case "copy":
      return {
        name: "copy",
        args: [f32(rows * cols), f32(rows * cols), {
          dims: [rows, cols],
          xStrides: [1, rows],
          yStrides: [cols, 1],
        }],
        run: (j, a) => j.copy(...(a as Parameters<Jit["copy"]>)),
      };
    case "batchNorm":
      return {
        name: "batchNorm",
        args: [f32(c * h * w), f32(c * h * w), {
          n: 1,
          c,
          h,
          w,
          scale: f32(c),
          bias: f32(c),
          mean: f32(c),
          variance: f32(c),
          epsilon: 1e-5,
        }],
        run: (j, a) => j.batchNorm(...(a as Parameters<Jit["batchNorm"]>)),
      };
    case "foldBatchNorm": {
      const transposed = r() < 0.3;
      return {
        name: "foldBatchNorm",
        args: [f32(oc * c * 9), f32(oc), {
          outChannels: oc,
          scale: f32(oc),
          bias: f32(oc),
          mean: f32(oc),
          variance: f32(oc),
          epsilon: 1e-5,
          transposed,
          inChannels: c,
          group: 1,
          inPlace: r() < 0.5,
        }],
        run: (j, a) => j.foldBatchNorm(...(a as Parameters<Jit["foldBatchNorm"]>)),
      };
    }
    case "packB":
      return {
        name: "packB",
        args: [f32(k * n), { k, n, transB: false }],
        run: (j, a) => j.packB(...(a as Parameters<Jit["packB"]>)),
      };
    case "attention": {
      const heads = 2 * c, kvHeads = c, d = w, keys = cols;
      const bshd = r() < 0.5;
      return {
        name: "attention",
        args: [
          f32(rows * heads * d),
          f32(keys * kvHeads * d),
          f32(keys * kvHeads * d),
          f32(
            rows * heads * d,
          ),
          {
            batch: 1,
            heads,
            kvHeads,
            queries: rows,
            keys,
            headSize: d,
            layout: bshd ? "bshd" : "bhsd",
            scale: 0.5,
            bias: f32(heads * keys),
            biasShape: [1, heads, 1],
            ...(bshd ? { rowStrides: { q: heads * d } } : {}),
          },
        ],
        run: (j, a) => j.attention(...(a as Parameters<Jit["attention"]>)),
      };
    }
    case "rotary":
      return {
        name: "rotary",
        args: [f32(rows * c * 2 * w), f32(rows * c * 2 * w), {
          batch: 1,
          sequence: rows,
          heads: c,
          headSize: 2 * w,
          cos: f32(rows * w),
          sin: f32(rows * w),
          positions: new Int32Array(rows),
        }],
        run: (j, a) => j.rotary(...(a as Parameters<Jit["rotary"]>)),
      };
    case "select":
      return {
        name: "select",
        args: [new Uint8Array(m * n).fill(1), f32(m * n), f32(1), f32(m * n)],
        run: (j, a) => j.select(...(a as Parameters<Jit["select"]>)),
      };
    case "squaredDistances":
      return {
        name: "squaredDistances",
        args: [f32(m * k), f32(k * n), f32(m * n), { m, n, k }],
        run: (j, a) => j.squaredDistances(...(a as Parameters<Jit["squaredDistances"]>)),
      };
    case "packTrees":
      return {
        name: "packTrees",
        args: [trees(r, cols)],
        run: (j, a) => j.packTrees(...(a as Parameters<Jit["packTrees"]>)),
      };
    case "treeLeaves": {
      const forest = new PackedTrees(trees(r, cols));
      return {
        name: "treeLeaves",
        args: [f32(rows * cols), forest, new Int32Array(rows * forest.trees), {
          rows,
          features: cols,
        }],
        run: (j, a) => j.treeLeaves(...(a as Parameters<Jit["treeLeaves"]>)),
      };
    }
    default:
      return {
        name: "packConvWeights",
        args: [f32(oc * c * 9), { outChannels: oc, c, kernel: [3, 3], group: 1 }],
        run: (j, a) => j.packConvWeights(...(a as Parameters<Jit["packConvWeights"]>)),
      };
  }
}

/** One seeded mistaken call. */
export function boundaryCase(seed: number, jits: JitSet, _options: FuzzOptions): CaseResult {
  const r = rng(seed);
  const call = validCall(r);
  const args = call.args.slice();
  const changes: string[] = [];
  for (let i = 0, count = int(r, 1, 3); i < count; i++) {
    const at = int(r, 0, args.length - 1);
    const slot = args[at];
    if (
      slot !== null && typeof slot === "object" && !ArrayBuffer.isView(slot) &&
      !Array.isArray(slot) && r() < 0.8
    ) {
      // An option replaced (or an array option's element).
      const o = { ...(slot as Record<string, unknown>) };
      const key = pick(r, Object.keys(o));
      const v = o[key];
      if (Array.isArray(v) && r() < 0.5) {
        const copy = v.slice();
        copy[int(r, 0, copy.length - 1)] = wrong(r, copy[0]);
        o[key] = copy;
      } else o[key] = wrong(r, v);
      args[at] = o;
      changes.push(`${call.name} argument ${at}.${key} = ${describe(o[key])}`);
    } else {
      args[at] = wrong(r, slot);
      changes.push(`${call.name} argument ${at} = ${describe(args[at])}`);
    }
  }
  try {
    call.run(jits.get(pick(r, [1, 2])), args);
    return null;
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError) return null;
    return `boundary seed ${seed}: ${changes.join("; ")}: threw ${(e as Error)?.name} ${
      (e as Error)?.message ?? e
    }`;
  }
}

function describe(v: unknown): string {
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as Float32Array).length})`;
  if (typeof v === "bigint") return `${v}n`;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
