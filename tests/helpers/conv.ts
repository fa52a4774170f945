/**
 * Random conv2d configurations for the tests (kernel 1-7, stride 1-3,
 * dilation 1-2, asymmetric pads, groups with depthwise, odd sizes, batch
 * 1-3) and their spec, derived here from the ONNX formulas independently of
 * the library's reader (a test compares the two).
 */
import assert from "node:assert/strict";
import type { Conv2dOptions, Jit } from "../../mod.ts";
import { convReference } from "../../src/kernels/conv/mod.ts";
import type { ConvSpec } from "../../src/kernels/conv/spec.ts";
import { int, pick } from "./random.ts";

/** The first index where the two differ bit for bit (NaN equals NaN; +0 and −0 differ), or −1. */
export function firstDifference(got: Float32Array, want: Float32Array): number {
  for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) return i;
  return -1;
}

/** The f64 reference's y for a call with this bias, residual and ReLU (each optional). */
export function convWant(
  s: ConvSpec,
  x: Float32Array,
  w: Float32Array,
  o: { bias?: Float32Array; residual?: Float32Array; relu?: boolean },
): Float32Array {
  const want = new Float32Array(convSizes(s).y);
  convReference(
    {
      ...s,
      bias: o.bias !== undefined,
      residual: o.residual !== undefined,
      activation: o.relu ? { op: 0, params: [] } : null,
    },
    x,
    w,
    o.bias ?? x,
    o.residual ?? x,
    want,
  );
  return want;
}

/**
 * A conv2d call on small integers, exact in f32: x in ±`xMost`, w in ±2, a bias in ±4, a
 * residual in ±5 where asked, relu; its operands and options, the f64 reference's y, and a y
 * of NaN to call into.
 */
export function smallIntegerCall(
  r: () => number,
  o: Conv2dOptions,
  xMost: number,
  withResidual: boolean,
): {
  x: Float32Array;
  w: Float32Array;
  opts: Conv2dOptions;
  want: Float32Array;
  y: Float32Array;
} {
  const s = convSpecOf(o), sizes = convSizes(s);
  const x = new Float32Array(sizes.x).map(() => int(r, -xMost, xMost));
  const w = new Float32Array(sizes.w).map(() => int(r, -2, 2));
  const bias = new Float32Array(s.oc).map(() => int(r, -4, 4));
  const residual = withResidual ? new Float32Array(sizes.y).map(() => int(r, -5, 5)) : undefined;
  const want = convWant(s, x, w, { bias, residual, relu: true });
  const opts = { ...o, bias, residual, activation: "relu" as const };
  return { x, w, opts, want, y: new Float32Array(sizes.y).fill(NaN) };
}

/** A configuration whose output is not empty. */
export function randomConv(r: () => number): Conv2dOptions & { kernel: number[] } {
  for (;;) {
    const group = pick(r, [1, 1, 1, 2, 3, 0]); // 0: depthwise
    const cg = int(r, 1, 6), ocg = int(r, 1, 9);
    const g = group === 0 ? int(r, 1, 12) : group;
    const kh = int(r, 1, 7), kw = pick(r, [kh, int(r, 1, 7)]);
    const o = {
      n: pick(r, [1, 1, 2, 3]),
      c: group === 0 ? g : cg * g,
      h: int(r, 1, 24),
      w: pick(r, [int(r, 1, 40), 16, 17, 33]),
      outChannels: group === 0 ? g * pick(r, [1, 1, 2]) : ocg * g,
      kernel: [kh, kw],
      strides: [int(r, 1, 3), int(r, 1, 3)],
      pads: [int(r, 0, 3), int(r, 0, 3), int(r, 0, 3), int(r, 0, 3)],
      dilations: [int(r, 1, 2), int(r, 1, 2)],
      group: g,
    };
    const s = convSpecOf(o);
    if (s.rowEnd >= 1 && outW(s) >= 1) return o;
  }
}

function outW(s: ConvSpec): number {
  return Math.floor((s.w + s.pl + s.pr - s.dw * (s.kw - 1) - 1) / s.sw) + 1;
}

/** The spec of a depthwise 3×3 convolution, padded by 1, of `c` channels on h×h, one image. */
export function depthwise3x3Spec(c: number, h: number, stride: number): ConvSpec {
  return convSpecOf({
    n: 1,
    c,
    h,
    w: h,
    outChannels: c,
    kernel: [3, 3],
    strides: [stride, stride],
    pads: [1, 1, 1, 1],
    group: c,
  });
}

/** The spec of a configuration by ONNX's definitions (auto_pad included). */
export function convSpecOf(o: Conv2dOptions): ConvSpec {
  const [kh, kw] = o.kernel;
  const [sh, sw] = o.strides ?? [1, 1];
  const [dh, dw] = o.dilations ?? [1, 1];
  let pads = o.pads ?? [0, 0, 0, 0];
  if (o.autoPad === "SAME_UPPER" || o.autoPad === "SAME_LOWER") {
    const same = (size: number, k: number, s: number, d: number) => {
      const total = Math.max(0, (Math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size);
      const small = Math.floor(total / 2);
      return o.autoPad === "SAME_UPPER" ? [small, total - small] : [total - small, small];
    };
    const [t, b] = same(o.h, kh, sh, dh), [l, r] = same(o.w, kw, sw, dw);
    pads = [t, l, b, r];
  } else if (o.autoPad === "VALID") pads = [0, 0, 0, 0];
  const oh = Math.floor((o.h + pads[0] + pads[2] - dh * (kh - 1) - 1) / sh) + 1;
  return {
    n: o.n,
    c: o.c,
    h: o.h,
    w: o.w,
    oc: o.outChannels,
    kh,
    kw,
    sh,
    sw,
    dh,
    dw,
    pt: pads[0],
    pl: pads[1],
    pb: pads[2],
    pr: pads[3],
    group: o.group ?? 1,
    bias: o.bias !== undefined,
    residual: o.residual !== undefined,
    activation: null,
    rowStart: 0,
    rowEnd: oh,
    uh: 1,
    uw: 1,
    flip: false,
    cTotal: o.c,
    ocTotal: o.outChannels,
    nhwc: false,
    wLanes: 0,
    wFinite: false,
    xLine: 0,
  };
}

/** Elements of x, w and y. */
export function convSizes(s: ConvSpec): { x: number; w: number; y: number } {
  return {
    x: s.n * s.c * s.h * s.w,
    w: s.oc * (s.c / s.group) * s.kh * s.kw,
    y: s.n * s.oc * s.rowEnd * outW(s),
  };
}

/** An NHWC tensor of n images × `plane` positions of c channels, as NCHW (toNhwc's inverse). */
export function fromNhwc(y: Float32Array, n: number, c: number, plane: number): Float32Array {
  const x = new Float32Array(y.length);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      for (let p = 0; p < plane; p++) x[(b * c + ch) * plane + p] = y[(b * plane + p) * c + ch];
    }
  }
  return x;
}

/** An NCHW tensor of n images × c planes of `plane` elements, as NHWC. */
export function toNhwc(x: Float32Array, n: number, c: number, plane: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      for (let p = 0; p < plane; p++) y[(b * plane + p) * c + ch] = x[(b * c + ch) * plane + p];
    }
  }
  return y;
}

/**
 * Calls `call` (which fills y) until the Jit's only conv key has finished
 * tier 2 tuning, asserting every call's y bit-equal to `want`; returns the
 * plans the tuner ran (the caller asserts which it expects).
 */
export function tuneCheckingBits(
  jit: Jit,
  call: () => void,
  y: Float32Array,
  want: Float32Array,
  label: string,
): string[] {
  jit.warmup(true);
  for (let n = 0; n < 300; n++) {
    y.fill(NaN);
    call();
    let at = -1;
    for (let i = 0; i < y.length && at < 0; i++) if (!Object.is(y[i], want[i])) at = i;
    assert.equal(at, -1, `${label} call ${n}: y[${at}] ${y[at]} vs ${want[at]}`);
    if (jit.stats().keys.some((k) => k.tuning?.state === "done")) break;
  }
  jit.warmup(false);
  const k = jit.stats().keys.find((k) => k.tuning);
  assert.equal(k?.tuning?.state, "done", label);
  return k!.tuning!.candidates.filter((c) => c.samples > 0).map((c) => c.plan);
}

/**
 * The plain call (w repacked per call) into a fresh y, then the same call on
 * w packed once, tuned until done with every call's bits checked against the
 * plain call's: the plans that ran (see tuneCheckingBits).
 */
export function tunePackedAgainstPlain(
  jit: Jit,
  x: Float32Array,
  w: Float32Array,
  opts: Conv2dOptions,
  label: string,
): string[] {
  const sizes = convSizes(convSpecOf(opts));
  const plain = new Float32Array(sizes.y).fill(NaN), packed = plain.slice();
  jit.conv2d(x, w, plain, opts);
  const handle = jit.packConvWeights(w, {
    outChannels: opts.outChannels,
    c: opts.c,
    kernel: opts.kernel,
  });
  return tuneCheckingBits(jit, () => jit.conv2d(x, handle, packed, opts), packed, plain, label);
}
