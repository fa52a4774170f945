/**
 * convInt8 cases: uint8 or int8 x with its zero point, 1-70 channels,
 * kernels 1-7, strides, dilations, pads, int32 bias, an Int32Array y
 * (exact sums) or a byte y requantized by one scale or one per channel,
 * 1-3 threads: against a direct integer reference, exactly.
 *
 * @module
 */
import { type CaseResult, type FuzzOptions, int, type JitSet, pick, rng } from "./shared.ts";

/** Rounds half to even (what the requantization does). */
function roundEven(v: number): number {
  const f = Math.floor(v), d = v - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}

/** One seeded convInt8 case. */
export function qconvCase(seed: number, jits: JitSet, _options: FuzzOptions): CaseResult {
  const r = rng(seed);
  const c = pick(r, [int(r, 1, 8), int(r, 1, 70), 3, 4, 16, 32, 64]);
  const oc = pick(r, [int(r, 1, 8), int(r, 1, 70), 16, 32, 64]);
  const n = pick(r, [1, 1, 2]), h = int(r, 1, 24), w = pick(r, [int(r, 1, 40), 7, 14, 16, 17, 33]);
  const kh = int(r, 1, 7), kw = pick(r, [kh, int(r, 1, 7)]);
  const sh = pick(r, [1, 1, 2, 3]), sw = pick(r, [sh, int(r, 1, 3)]);
  const dh = pick(r, [1, 1, 2]), dw = pick(r, [dh, 1, 2]);
  const pads = [int(r, 0, 3), int(r, 0, 3), int(r, 0, 3), int(r, 0, 3)];
  const oh = Math.floor((h + pads[0] + pads[2] - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((w + pads[1] + pads[3] - dw * (kw - 1) - 1) / sw) + 1;
  if (oh < 1 || ow < 1) return null;
  const signed = r() < 0.4;
  const xz = signed ? int(r, -128, 127) : int(r, 0, 255);
  const x = signed ? new Int8Array(n * c * h * w) : new Uint8Array(n * c * h * w);
  for (let i = 0; i < x.length; i++) x[i] = signed ? int(r, -128, 127) : int(r, 0, 255);
  const wt = new Int8Array(oc * c * kh * kw);
  // Weights within ±64 (7-bit: AVX2's byte tiles) now and then.
  const most = r() < 0.3 ? 64 : 127;
  for (let i = 0; i < wt.length; i++) wt[i] = int(r, -most - (most === 127 ? 1 : 0), most);
  const bias = r() < 0.5 ? Int32Array.from({ length: oc }, () => int(r, -5000, 5000)) : undefined;
  const out = pick(r, ["int32", "int32", "uint8", "int8"] as const);
  const scale = out === "int32" ? undefined : Float32Array.from(
    { length: pick(r, [1, oc]) },
    () => Math.fround(r() * 1e-3 + 1e-5),
  );
  const yz = out === "uint8" ? int(r, 0, 255) : out === "int8" ? int(r, -128, 127) : 0;
  const [lo, hi] = out === "uint8" ? [0, 255] : [-128, 127];
  const want = new Float64Array(n * oc * oh * ow);
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < oc; o++) {
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          let s = bias ? bias[o] : 0;
          for (let ci = 0; ci < c; ci++) {
            for (let a = 0; a < kh; a++) {
              const ih = i * sh + a * dh - pads[0];
              if (ih < 0 || ih >= h) continue;
              for (let q = 0; q < kw; q++) {
                const iw = j * sw + q * dw - pads[1];
                if (iw < 0 || iw >= w) continue;
                s += (x[((b * c + ci) * h + ih) * w + iw] - xz) *
                  wt[((o * c + ci) * kh + a) * kw + q];
              }
            }
          }
          const at = ((b * oc + o) * oh + i) * ow + j;
          if (scale === undefined) want[at] = s;
          else {
            // The sum as a float32 times the scale, clamped, rounded half to even, offset.
            const v = Math.fround(Math.fround(s) * scale[scale.length === 1 ? 0 : o]);
            want[at] = roundEven(Math.min(Math.max(v, lo - yz), hi - yz)) + yz;
          }
        }
      }
    }
  }
  const threads = pick(r, [1, 2, 3]);
  const jit = jits.get(threads);
  const y = out === "int32"
    ? new Int32Array(want.length)
    : out === "uint8"
    ? new Uint8Array(want.length)
    : new Int8Array(want.length);
  const o = {
    n,
    c,
    h,
    w,
    outChannels: oc,
    kernel: [kh, kw],
    strides: [sh, sw],
    pads,
    dilations: [dh, dw],
    xZeroPoint: xz,
    bias,
    scale,
    yZeroPoint: out === "int32" ? undefined : yz,
  };
  const label = `qconv seed ${seed} ${
    JSON.stringify({ ...o, bias: !!bias, scale: scale?.length })
  } ${signed ? "int8" : "uint8"} x → ${out} y, threads ${threads}`;
  try {
    jit.convInt8(x, jit.packConvInt8(wt, { outChannels: oc, c, kernel: [kh, kw] }), y, o);
    for (let i = 0; i < y.length; i++) {
      if (y[i] !== want[i]) return `${label}: y[${i}] = ${y[i]}, reference ${want[i]}`;
    }
    return null;
  } catch (e) {
    return `${label}: threw ${e}`;
  }
}
