/**
 * Signal ops (opsets 17 and 20): DFT, STFT and MelWeightMatrix — the audio
 * front ends (log-mel spectrograms) models export.
 *
 * A transform is one GEMM: the signal's rows (real, or real and imaginary
 * interleaved) times a basis of cosines and sines computed once in float64
 * (the angle reduced exactly, 2π·(k·j mod L)/L), whose columns give each
 * bin's real and imaginary parts side by side — the output's own layout.
 * An inverse transform's 1/L and an STFT's window are folded into the basis
 * (a computed window multiplies it on each run). STFT frames are gathered by
 * one strided copy; a DFT along an inner axis is gathered and scattered the
 * same way. Every step native. The basis is capped at 2^25 elements (a real
 * transform of length ≤ 4096, complex ≤ 2896).
 */
import {
  axisOf,
  checkedSize,
  expectType,
  fail,
  knownInts,
  knownNumbers,
  type Meta,
  meta,
  need,
  type OpDef,
  sizeOf,
} from "./op.ts";
import type { Node } from "../ir.ts";

const MAX_BASIS = 2 ** 25;

/**
 * The basis [used·c, 2·bins] of a length-L transform of `used` samples (c = 1 real, 2
 * complex): row (j, re) holds cos θ, ∓sin θ per bin k (θ = 2πkj/L; − forward), row (j, im)
 * ±sin θ, cos θ; scaled by 1/L when inverse and by window[j] when given.
 */
function basisOf(
  n: Node,
  L: number,
  used: number,
  c: number,
  bins: number,
  inverse: boolean,
  window?: ArrayLike<number>,
): Float32Array {
  if (used * c * 2 * bins > MAX_BASIS) {
    fail(n, `a transform of length ${L} (${bins} bins) exceeds ${MAX_BASIS} basis elements`);
  }
  const out = new Float32Array(used * c * 2 * bins), sign = inverse ? 1 : -1;
  const scale = inverse ? 1 / L : 1, cols = 2 * bins;
  for (let j = 0; j < used; j++) {
    const w = (window ? window[j] : 1) * scale;
    for (let k = 0; k < bins; k++) {
      const theta = (2 * Math.PI * ((k * j) % L)) / L;
      const cos = Math.cos(theta) * w, sin = Math.sin(theta) * w * sign;
      const re = j * c * cols + 2 * k;
      out[re] = cos, out[re + 1] = sin;
      if (c === 2) out[re + cols] = -sin, out[re + cols + 1] = cos;
    }
  }
  return out;
}

/**
 * The basis [used·2, L] of an inverse real transform (IRFFT: the one-sided spectrum's first
 * `used` bins, complex, to L real samples): row (k, re) holds w·cos θ / L per sample j, row
 * (k, im) −w·sin θ / L (θ = 2πkj/L), w 2 for a bin that stands for itself and its mirror
 * L − k, 1 for bin 0 and, L even, bin L/2 — whose imaginary parts then count for nothing, as
 * numpy's irfft drops them.
 */
function irfftBasis(n: Node, L: number, used: number): Float32Array {
  if (used * 2 * L > MAX_BASIS) {
    fail(n, `an inverse transform of length ${L} exceeds ${MAX_BASIS} basis elements`);
  }
  const out = new Float32Array(used * 2 * L);
  for (let k = 0; k < used; k++) {
    const alone = k === 0 || 2 * k === L, w = (alone ? 1 : 2) / L;
    for (let j = 0; j < L; j++) {
      const theta = (2 * Math.PI * ((k * j) % L)) / L;
      out[2 * k * L + j] = Math.cos(theta) * w;
      out[(2 * k + 1) * L + j] = alone ? 0 : -Math.sin(theta) * w;
    }
  }
  return out;
}

/** A DFT node's geometry. */
function dftShape(n: Node, ins: readonly (Meta | null)[]) {
  const [x] = need(n, ins, 1, 3);
  expectType(n, x, 0, "float32");
  const r = x.dims.length, c = x.dims[r - 1];
  if (r < 3 || (c !== 1 && c !== 2)) {
    fail(n, `input [${x.dims}] must be [batch, …signal, 1 (real) or 2 (complex)]`);
  }
  const given = n.opset >= 20 && ins[2] ? knownInts(n, ins[2], "axis") : null;
  const axisValue = given ? given[0] : n.opset >= 20 ? -2 : n.attrs.int("axis", 1);
  const axis = axisOf(n, axisValue, r, "axis");
  if (axis === r - 1 || axis === 0) fail(n, `axis ${axisValue} must be a signal axis`);
  const samples = x.dims[axis];
  const onesided = n.attrs.int("onesided", 0) !== 0, inverse = n.attrs.int("inverse", 0) !== 0;
  // Inverse and one-sided on a complex input: IRFFT, the half spectrum's samples bins to L
  // real samples (2·(bins − 1) unless dft_length says).
  const real = onesided && inverse && c === 2;
  const L = ins[1] ? knownInts(n, ins[1], "dft_length")[0] : real ? 2 * (samples - 1) : samples;
  if (!(L >= 1)) fail(n, `dft_length must be ≥ 1, got ${L}`);
  if (onesided && c === 2 && !inverse) {
    fail(n, "a one-sided forward DFT needs a real input (last dim 1)");
  }
  if (onesided && inverse && c === 1) fail(n, "a one-sided inverse DFT needs a complex input");
  // Output samples along the axis and their width (2: complex, 1: IRFFT's real samples).
  const bins = real ? L : onesided ? (L >> 1) + 1 : L, width = real ? 1 : 2;
  const used = Math.min(samples, real ? (L >> 1) + 1 : L);
  const outer = sizeOf(x.dims.slice(0, axis)), inner = sizeOf(x.dims.slice(axis + 1, r - 1));
  const dims = x.dims.slice();
  dims[axis] = bins, dims[r - 1] = width;
  return { x, c, L, samples, used, bins, width, real, inverse, outer, inner, dims };
}

const DFT: OpDef = {
  attributes: ["axis", "inverse", "onesided"],
  infer(n, ins) {
    const s = dftShape(n, ins);
    checkedSize(n, s.dims);
    return [meta("float32", s.dims)];
  },
  build(n, ins, outs, env) {
    const { c, L, samples, used, bins, width, real, inverse, outer, inner } = dftShape(n, ins);
    const basis = real ? irfftBasis(n, L, used) : basisOf(n, L, used, c, bins, inverse);
    const x = ins[0]!.data as Float32Array, y = outs[0].data as Float32Array, jit = env.jit;
    const k = used * c, cols = width * bins;
    if (inner === 1) {
      // Rows in place: each outer index's first `used` samples, at a stride of the whole signal.
      const o = { m: outer, n: cols, k, lda: samples * c };
      return { native: true, run: () => jit.gemm(x, basis, y, o) };
    }
    // [outer, samples, inner, c] → rows [outer, inner, used·c] → [outer, inner, bins, 2] → y.
    const rows = new Float32Array(outer * inner * k),
      spectra = new Float32Array(outer * inner * cols);
    const gather = {
      dims: [outer, inner, used, c],
      xStrides: [samples * inner * c, c, inner * c, 1],
    };
    // Walked in y's order (dense), read from the spectra's.
    const scatter = {
      dims: [outer, bins, inner, width],
      xStrides: [inner * cols, width, cols, 1],
    };
    const o = { m: outer * inner, n: cols, k };
    return {
      native: true,
      run: () => {
        jit.copy(x, rows, gather);
        jit.gemm(rows, basis, spectra, o);
        jit.copy(spectra, y, scatter);
      },
    };
  },
};

/** An STFT node's geometry. */
function stftShape(n: Node, ins: readonly (Meta | null)[]) {
  const [x] = need(n, ins, 2, 4);
  expectType(n, x, 0, "float32");
  const r = x.dims.length, c = r === 3 ? x.dims[2] : 0;
  if (r !== 3 || (c !== 1 && c !== 2)) {
    fail(n, `signal [${x.dims}] must be [batch, length, 1 (real) or 2 (complex)]`);
  }
  const [batch, len] = x.dims;
  const step = knownInts(n, ins[1], "frame_step")[0];
  const window = ins[2] ?? null;
  if (window && window.dims.length !== 1) fail(n, "window must be 1-D");
  if (window) expectType(n, window, 2, "float32");
  const frameLength = ins[3] ? knownInts(n, ins[3], "frame_length")[0] : null;
  if (window && frameLength !== null && window.dims[0] !== frameLength) {
    fail(n, `frame_length ${frameLength} differs from the window's ${window.dims[0]}`);
  }
  const ws = window ? window.dims[0] : frameLength ?? fail(n, "window or frame_length is required");
  if (!(step >= 1)) fail(n, `frame_step must be ≥ 1, got ${step}`);
  if (!(ws >= 1 && ws <= len)) fail(n, `a frame of ${ws} does not fit the signal's ${len}`);
  const onesided = n.attrs.int("onesided", 1) !== 0;
  const bins = onesided ? (ws >> 1) + 1 : ws;
  const frames = Math.floor((len - ws) / step) + 1;
  return { batch, len, c, step, ws, bins, frames, dims: [batch, frames, bins, 2] };
}

const STFT: OpDef = {
  attributes: ["onesided"],
  infer(n, ins) {
    const s = stftShape(n, ins);
    checkedSize(n, s.dims);
    return [meta("float32", s.dims)];
  },
  build(n, ins, outs, env) {
    const { batch, len, c, step, ws, bins, frames } = stftShape(n, ins);
    const win = ins[2] ?? null, jit = env.jit;
    const x = ins[0]!.data as Float32Array, y = outs[0].data as Float32Array;
    const k = ws * c, cols = 2 * bins;
    // A constant window folded in once; a computed one multiplies the plain basis each run.
    const fixed = !win || win.constant;
    const plain = basisOf(
      n,
      ws,
      ws,
      c,
      bins,
      false,
      fixed && win ? win.data as Float32Array : undefined,
    );
    const basis = fixed ? plain : new Float32Array(plain.length);
    const frameRows = new Float32Array(batch * frames * k);
    const gather = { dims: [batch, frames, k], xStrides: [len * c, step * c, 1] };
    const o = { m: batch * frames, n: cols, k };
    // Row (j, part) of the basis times window[j].
    const basisDims = [ws, c * cols], windowDims = [ws, 1];
    const windowed = (): void => {
      jit.binary("mul", plain, basisDims, win!.data as Float32Array, windowDims, basis);
    };
    return {
      native: true,
      run: () => {
        if (!fixed) windowed();
        jit.copy(x, frameRows, gather);
        jit.gemm(frameRows, basis, y, o);
      },
    };
  },
};

/** hz → mel and back (HTK), as ONNX Runtime computes them in float64. */
const toMel = (hz: number) => 2595 * Math.log10(1 + hz / 700);
const toHz = (mel: number) => 700 * (10 ** (mel / 2595) - 1);

/**
 * MelWeightMatrix (opset 17): [⌊L/2⌋ + 1, mels] triangles over the spectrogram bins, as ONNX
 * Runtime makes them: num_mel_bins + 2 points evenly spaced in mel, each at bin
 * ⌊(L + 1)·hz / rate⌋, each triangle rising from its left point to 1 at its centre and
 * falling to its right point. float32 output.
 */
const MEL_WEIGHT_MATRIX: OpDef = {
  attributes: ["output_datatype"],
  infer(n, ins) {
    need(n, ins, 5);
    if (n.attrs.int("output_datatype", 1) !== 1) fail(n, "only float32 output is supported");
    const [mels] = knownInts(n, ins[0], "num_mel_bins");
    const [L] = knownInts(n, ins[1], "dft_length");
    const [rate] = knownInts(n, ins[2], "sample_rate");
    const lo = Math.fround(knownNumbers(n, ins[3], "lower_edge_hertz")[0]);
    const hi = Math.fround(knownNumbers(n, ins[4], "upper_edge_hertz")[0]);
    if (!(mels >= 1 && L >= 1 && rate >= 1)) {
      fail(n, "num_mel_bins, dft_length and sample_rate must be ≥ 1");
    }
    const spectrum = Math.floor(L / 2) + 1;
    for (const [hz, what] of [[lo, "lower_edge_hertz"], [hi, "upper_edge_hertz"]] as const) {
      const at = Math.floor(((L + 1) * hz) / rate);
      if (!(at >= 0 && at < spectrum)) fail(n, `${what} ${hz} is outside the spectrum`);
    }
    checkedSize(n, [spectrum, mels]);
    const data = new Float32Array(spectrum * mels);
    const low = toMel(lo), step = (toMel(hi) - low) / (mels + 2);
    const points = Array.from(
      { length: mels + 2 },
      (_, i) => Math.floor(((L + 1) * toHz(low + step * i)) / rate),
    );
    for (let m = 0; m < mels; m++) {
      const [left, centre, right] = [points[m], points[m + 1], points[m + 2]];
      if (centre === left) data[centre * mels + m] = 1;
      else {
        for (let j = left; j <= centre; j++) {
          data[j * mels + m] = Math.fround(j - left) / Math.fround(centre - left);
        }
      }
      for (let j = centre; j < right; j++) {
        data[j * mels + m] = Math.fround(right - j) / Math.fround(right - centre);
      }
    }
    return [{ ...meta("float32", [spectrum, mels]), data }];
  },
  build: () => null,
};

/** The signal definitions. */
export const SIGNAL_OPS: Record<string, OpDef> = {
  DFT,
  STFT,
  MelWeightMatrix: MEL_WEIGHT_MATRIX,
};
