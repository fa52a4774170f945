/**
 * pool cases: max (dilated; a quarter 3×3/2), average (count_include_pad or
 * not) and global pooling, kernels 1-7, strides 1-3, pads, ceil mode, NCHW or NHWC, a NaN or
 * ±Inf input in one case of ten, 1-3 threads, operands at random offsets:
 * against ONNX Runtime's definitions (max exactly, averages within 2e-6).
 *
 * @module
 */
import type { PoolKind } from "../../mod.ts";
import { fromNhwc, toNhwc } from "../../tests/helpers/conv.ts";
import { type CaseResult, type FuzzOptions, int, type JitSet, pick, place, rng } from "./shared.ts";

/** NaN-propagating max (x86 max would keep one operand). */
function max(a: number, b: number): number {
  return Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b);
}

/** One seeded pool case. */
export function poolCase(seed: number, jits: JitSet, _options: FuzzOptions): CaseResult {
  const r = rng(seed);
  const kind: PoolKind = pick(r, [
    "max",
    "max",
    "average",
    "average",
    "globalMax",
    "globalAverage",
  ]);
  const global = kind === "globalMax" || kind === "globalAverage";
  const n = pick(r, [1, 1, 2, 3]), c = pick(r, [int(r, 1, 8), int(r, 1, 70), 16, 32, 64]);
  const h = int(r, 1, 30), w = pick(r, [int(r, 1, 40), 7, 16, 17, 33, 56]);
  // One max case in four the ResNet stem's 3×3/2 (its own kernels: pool/max_aligned.ts,
  // max_pairs.ts), which random windows and strides would hardly ever give.
  const stem = kind === "max" && r() < 0.25;
  const kh = stem ? 3 : int(r, 1, Math.min(7, h + 2)),
    kw = stem ? 3 : int(r, 1, Math.min(7, w + 2));
  const sh = stem ? 2 : int(r, 1, 3), sw = stem ? 2 : int(r, 1, 3);
  const dh = kind === "max" && !stem ? pick(r, [1, 1, 2, 3]) : 1,
    dw = kind === "max" && !stem ? pick(r, [1, 1, 2]) : 1;
  const pads = [0, 1, 2, 3].map((i) => int(r, 0, Math.min(2, i % 2 ? kw - 1 : kh - 1)));
  const ceil = r() < 0.3, include = r() < 0.4, nhwc = r() < 0.3;
  const outSize = (size: number, k: number, s: number, d: number, begin: number, end: number) => {
    const span = size + begin + end - d * (k - 1) - 1;
    if (span < 0) return 0;
    let o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
    if (ceil && (o - 1) * s >= size + begin) o--; // the last window starts inside
    return o;
  };
  const oh = global ? 1 : outSize(h, kh, sh, dh, pads[0], pads[2]);
  const ow = global ? 1 : outSize(w, kw, sw, dw, pads[1], pads[3]);
  if (oh < 1 || ow < 1) return null;
  const x = Float32Array.from({ length: n * c * h * w }, () => int(r, -9, 9) / 4);
  if (r() < 0.1) x[int(r, 0, x.length - 1)] = pick(r, [NaN, Infinity, -Infinity]);
  const want = new Float32Array(n * c * oh * ow);
  for (let b = 0; b < n * c; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        let v: number;
        if (global) {
          let acc = kind === "globalMax" ? -Infinity : 0;
          for (let p = 0; p < h * w; p++) {
            const e = x[b * h * w + p];
            acc = kind === "globalMax" ? max(acc, e) : acc + e;
          }
          v = kind === "globalMax" ? acc : acc / (h * w);
        } else if (kind === "max") {
          v = -Infinity;
          for (let a = 0; a < kh; a++) {
            const ih = i * sh - pads[0] + a * dh;
            if (ih < 0 || ih >= h) continue;
            for (let q = 0; q < kw; q++) {
              const iw = j * sw - pads[1] + q * dw;
              if (iw >= 0 && iw < w) v = max(v, x[(b * h + ih) * w + iw]);
            }
          }
        } else {
          // ONNX Runtime: the window clipped to the padded input counts with its padding.
          let hs = i * sh - pads[0], ws = j * sw - pads[1];
          let he = Math.min(hs + kh, h + pads[2]), we = Math.min(ws + kw, w + pads[3]);
          const padded = (he - hs) * (we - ws);
          hs = Math.max(hs, 0), ws = Math.max(ws, 0), he = Math.min(he, h), we = Math.min(we, w);
          let acc = 0;
          for (let a = hs; a < he; a++) for (let q = ws; q < we; q++) acc += x[(b * h + a) * w + q];
          v = acc / (include ? padded : (he - hs) * (we - ws));
        }
        want[(b * oh + i) * ow + j] = v;
      }
    }
  }
  const threads = pick(r, [1, 2, 3]);
  const xs = place(r, nhwc ? toNhwc(x, n, c, h * w) : x);
  const y = place(r, new Float32Array(want.length).fill(12345));
  const layout = nhwc ? { layout: "nhwc" as const } : {};
  const o = global ? { n, c, h, w, ...layout } : {
    n,
    c,
    h,
    w,
    kernel: [kh, kw],
    strides: [sh, sw],
    pads,
    dilations: [dh, dw],
    ceilMode: ceil,
    ...(kind === "average" ? { countIncludePad: include } : {}),
    ...layout,
  };
  const label = `pool seed ${seed} ${kind} ${JSON.stringify(o)} threads ${threads}`;
  try {
    jits.get(threads).pool(kind, xs, y, o);
    const got = nhwc ? fromNhwc(y, n, c, oh * ow) : y;
    for (let i = 0; i < got.length; i++) {
      const g = got[i], v = want[i];
      const ok = g === v || (Number.isNaN(g) && Number.isNaN(v)) ||
        (kind.endsWith("verage") && Math.abs(g - v) <= 2e-6 * Math.max(1, Math.abs(v)));
      if (!ok) return `${label}: y[${i}] = ${g}, reference ${v}`;
    }
    return null;
  } catch (e) {
    return `${label}: threw ${e}`;
  }
}
