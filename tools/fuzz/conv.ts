/**
 * conv2d cases: dense, grouped and depthwise layers of 1-80 channels,
 * narrowing 1×1 layers of 128-384 inputs on small images (in halves),
 * kernels 1-7 (8 across), strides 1-3, dilations 1-3, asymmetric pads,
 * batch 1-3, NCHW or NHWC, plain or packed weights, 1-3 threads, operands at
 * random offsets, a ±Inf or NaN weight in one case of ten, one case in eight
 * tuned on its calls (every call checked): against the f64 reference, bit
 * for bit (small integers).
 *
 * @module
 */
import { Jit } from "../../mod.ts";
import { convSizes, convSpecOf, convWant, fromNhwc, toNhwc } from "../../tests/helpers/conv.ts";
import {
  type CaseResult,
  firstBitDifference,
  type FuzzOptions,
  int,
  ints,
  type JitSet,
  pick,
  place,
  rng,
  smallL2,
} from "./shared.ts";

/** A conv2d layer's options (the call's shape and attributes). */
interface Layer {
  n: number;
  c: number;
  h: number;
  w: number;
  outChannels: number;
  kernel: number[];
  strides: number[];
  pads: number[];
  dilations: number[];
  group: number;
}

function randomLayer(r: () => number): Layer {
  for (;;) {
    const kind = pick(r, ["dense", "dense", "grouped", "depthwise", "depthwise", "narrowing"]);
    const kh = int(r, 1, 7), kw = pick(r, [kh, kh, int(r, 1, 8)]);
    let c: number, oc: number, group: number;
    if (kind === "dense") {
      c = pick(r, [int(r, 1, 8), int(r, 1, 80), 3, 16, 32, 64]);
      oc = pick(r, [int(r, 1, 8), int(r, 1, 80), 16, 32, 48, 64]);
      group = 1;
    } else if (kind === "grouped") {
      group = int(r, 2, 4);
      c = group * int(r, 1, 20);
      oc = group * pick(r, [int(r, 1, 20), 16, 32]);
    } else if (kind === "narrowing") {
      // Many inputs to few outputs (most in halves of the inputs: k_halves.ts).
      c = pick(r, [128, 192, 256, 384, 160]);
      oc = pick(r, [int(r, 1, c / 2), 16, 24, 40, 64, c / 2 + 8]);
      group = 1;
    } else {
      group = pick(r, [int(r, 1, 70), 16, 32, 33, 48]);
      c = group;
      oc = group * pick(r, [1, 1, 1, 2]);
    }
    const sh = pick(r, [1, 1, 2, int(r, 1, 3)]), dh = pick(r, [1, 1, 1, int(r, 2, 3)]);
    const o: Layer = {
      n: pick(r, [1, 1, 1, 2, 3]),
      c,
      h: int(r, 1, 30),
      w: pick(r, [int(r, 1, 40), 7, 14, 16, 17, 28, 33]),
      outChannels: oc,
      kernel: [kh, kw],
      strides: [sh, pick(r, [sh, int(r, 1, 3)])],
      pads: [int(r, 0, 3), int(r, 0, 3), int(r, 0, 3), int(r, 0, 3)],
      dilations: [dh, pick(r, [dh, int(r, 1, 3)])],
      group,
    };
    if (kind === "narrowing") {
      // A 1×1 layer on a small image, most of them stride 1 and unpadded.
      o.kernel = [1, 1];
      o.dilations = [1, 1];
      o.h = int(r, 1, 16);
      o.w = pick(r, [int(r, 1, 17), 7, 14, 16]);
      if (r() < 0.8) o.strides = [1, 1];
      if (r() < 0.8) o.pads = [0, 0, 0, 0];
      if (r() < 0.8) o.n = 1;
    }
    const s = convSpecOf(o);
    const ow = Math.floor((s.w + s.pl + s.pr - s.dw * (s.kw - 1) - 1) / s.sw) + 1;
    if (s.rowEnd >= 1 && ow >= 1 && s.n * s.c * s.h * s.w < 400000) return o;
  }
}

/** One seeded conv2d case. */
export function convCase(seed: number, jits: JitSet, options: FuzzOptions): CaseResult {
  const r = rng(seed);
  const o = randomLayer(r);
  const s = convSpecOf(o), sizes = convSizes(s);
  const plane = s.h * s.w, oplane = sizes.y / (s.n * s.oc);
  const x = ints(r, sizes.x, -3, 3), w = ints(r, sizes.w, -2, 2);
  const inject = r() < 0.1;
  if (inject) w[int(r, 0, w.length - 1)] = pick(r, [Infinity, -Infinity, NaN]);
  const bias = r() < 0.5 ? ints(r, s.oc, -4, 4) : undefined;
  const residual = r() < 0.3 ? ints(r, sizes.y, -5, 5) : undefined;
  const relu = r() < 0.4, nhwc = r() < 0.35, packed = r() < 0.5;
  const threads = pick(r, [1, 2, 3]), tune = r() < 0.12;
  const want = convWant(s, x, w, { bias, residual, relu });
  const xs = place(r, nhwc ? toNhwc(x, s.n, s.c, plane) : x);
  const rs = residual ? place(r, nhwc ? toNhwc(residual, s.n, s.oc, oplane) : residual) : undefined;
  const y = place(r, new Float32Array(sizes.y));
  // A seed's own Jit where it plans for a small L2 (x copied by a 1×1 tile's first channel
  // tile, channel blocks, passes) or is tuned. Tuned, every split candidate runs its parts
  // (minPartUs 0), as the JitSet's calls do; a small call otherwise takes its whole-call
  // kernel while the workers sleep.
  const small = smallL2(seed);
  const own = tune || small !== null;
  const jit = own
    ? new Jit({ threads, maxIsa: options.isa, minPartUs: 0, ...small })
    : jits.get(threads);
  const label =
    `conv seed ${seed} ${JSON.stringify(o)} nhwc ${nhwc} packed ${packed} threads ${threads} ` +
    `tuned ${tune} non-finite weight ${inject} bias ${!!bias} residual ${!!residual} relu ${relu}` +
    (small ? " l2 64 KiB" : "");
  try {
    const wt = packed
      ? jit.packConvWeights(w, { outChannels: s.oc, c: s.c, kernel: o.kernel, group: o.group })
      : w;
    const opts = {
      ...o,
      bias,
      residual: rs,
      activation: relu ? "relu" as const : undefined,
      layout: nhwc ? "nhwc" as const : undefined,
    };
    if (tune) jit.warmup(true);
    for (let k = 0; k < (tune ? 120 : 2); k++) {
      y.fill(NaN);
      jit.conv2d(xs, wt, y, opts);
      const got = nhwc ? fromNhwc(y, s.n, s.oc, oplane) : y;
      const at = firstBitDifference(got, want);
      if (at >= 0) {
        const plan = jit.stats().keys.find((q) => q.key.startsWith("conv2d"))?.plan;
        return `${label}: call ${k} y[${at}] = ${got[at]}, reference ${want[at]} (plan ${plan})`;
      }
      if (tune && jit.stats().keys.some((q) => q.tuning?.state === "done")) break;
    }
    // A candidate that could not be built, other than one whose epilogue found the registers
    // short at build time (the planner's estimate, tier 1's too): a plan not to offer.
    for (const q of tune ? jit.stats().keys : []) {
      const failed = q.tuning?.candidates.find((c) =>
        c.failure !== null && !/registers/.test(c.failure)
      );
      if (failed) return `${label}: candidate ${failed.plan} failed: ${failed.failure}`;
    }
    return null;
  } catch (e) {
    return `${label}: threw ${e}`;
  } finally {
    if (own) jit.close();
  }
}
