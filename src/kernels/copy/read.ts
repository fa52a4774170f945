/**
 * Reading a `jit.copy` call: dims and element strides of x and y (x and y
 * views at their first element), checked and put in canonical form in the
 * key without allocating: dims of size 1 dropped, neighbours contiguous in
 * both merged, so equal copies share a kernel.
 *
 * @module
 */
import { describe, viewLength } from "../../typed.ts";
import { type CopySpec, MAX_COPY_DIMS } from "./spec.ts";

/** Options of `jit.copy`. */
export interface CopyOptions {
  /** The dims walked, outermost first (1-8 of them). */
  dims: readonly number[];
  /** x's element stride per dim (≥ 0; 0 repeats an element along that dim). */
  xStrides: readonly number[];
  /** y's element stride per dim (≥ 1 where the dim exceeds 1). Default: dense. */
  yStrides?: readonly number[];
}

/** Names of the copy key slots after the family slot. */
export const COPY_KEY_FIELDS = [
  "rank",
  "d0",
  "d1",
  "d2",
  "d3",
  "d4",
  "xs0",
  "xs1",
  "xs2",
  "xs3",
  "xs4",
  "ys0",
  "ys1",
  "ys2",
  "ys3",
  "ys4",
] as const;

/** Largest dim, stride or span. */
const MAX = 2 ** 31 - 1;
const MAX_INPUT_DIMS = 8;

function bad(what: string, v: unknown, want: string, range = true): never {
  const shown = typeof v === "number"
    ? String(v)
    : Array.isArray(v)
    ? `[${v.join(", ")}]`
    : describe(v);
  const msg = `copy: ${what} is ${shown}, expected ${want}`;
  throw range ? new RangeError(msg) : new TypeError(msg);
}

function readList(name: string, v: unknown, n: number, min: number): readonly number[] {
  if (!Array.isArray(v)) bad(name, v, "an array of integers", false);
  if (v.length !== n) bad(`${name}.length`, v.length, `${n} (one per dim)`);
  for (let i = 0; i < n; i++) {
    const d = v[i];
    if (typeof d !== "number" || !Number.isInteger(d) || d < min || d > MAX) {
      bad(`${name}[${i}]`, d, `an integer in [${min}, ${MAX}]`);
    }
  }
  return v;
}

/** Key slots: rank, then dims, x strides and y strides, outermost first. */
const RANK = 1, D = 2, XS = D + MAX_COPY_DIMS, YS = XS + MAX_COPY_DIMS;

// Scratch for the canonical form, innermost first (module-level: no allocation per call).
const SD = new Int32Array(MAX_COPY_DIMS), SX = new Int32Array(MAX_COPY_DIMS);
const SY = new Int32Array(MAX_COPY_DIMS);

/**
 * Puts a copy in canonical form in SD/SX/SY (innermost first): size-1 dims
 * dropped, neighbours contiguous in both merged. Returns the dim count, or
 * why the family cannot take it. Dims are ≥ 1, strides ≥ 0 (checked before).
 */
function canonical(
  dims: readonly number[],
  xs: readonly number[],
  ys: readonly number[] | undefined,
): number | string {
  let n = 0;
  for (let i = dims.length - 1, dense = 1; i >= 0; i--) {
    const d = dims[i], ysi = ys === undefined ? dense : ys[i];
    dense *= d;
    if (d === 1) continue;
    if (ysi < 1) return `yStrides[${i}] ≥ 1 (y's elements must not repeat)`;
    // Contiguous with the dim inside it in both x and y: one longer dim.
    if (n > 0 && SX[n - 1] * SD[n - 1] === xs[i] && SY[n - 1] * SD[n - 1] === ysi) {
      SD[n - 1] *= d;
      continue;
    }
    if (n === MAX_COPY_DIMS) return `at most ${MAX_COPY_DIMS} dims after merging`;
    SD[n] = d;
    SX[n] = xs[i];
    SY[n] = ysi;
    n++;
  }
  if (n === 0) {
    SD[0] = SX[0] = SY[0] = 1;
    n = 1;
  }
  // y's elements are written once: each dim's stride clears the span of the dims inside it.
  for (let k = 1, span = 1 + (SD[0] - 1) * SY[0]; k < n; k++) {
    if (SY[k] < span) return "strides under which no element of y is written twice";
    span += (SD[k] - 1) * SY[k];
  }
  // An innermost dim strided in x or y makes every element a row: one dim fewer fits.
  if ((SX[0] !== 1 || SY[0] !== 1) && n === MAX_COPY_DIMS) {
    return `at most ${MAX_COPY_DIMS - 1} dims after merging when the last is strided`;
  }
  return n;
}

/**
 * Whether `jit.copy` takes this copy (dims ≥ 1, strides ≥ 0 given as
 * numbers): the same canonical form its reader builds, so a caller can
 * decide once, at plan time, and never meet the error on a run.
 */
export function copyFits(
  dims: readonly number[],
  xStrides: readonly number[],
  yStrides?: readonly number[],
): boolean {
  return typeof canonical(dims, xStrides, yStrides) === "number";
}

/**
 * Checks a copy (x and y known Float32Arrays), writes key slots 1..16 and
 * the extents. Returns false when there is nothing to copy (a dim of 0).
 */
export function readCopy(
  x: Float32Array,
  y: Float32Array,
  o: CopyOptions,
  key: Int32Array,
  extents: Float64Array,
): boolean {
  if (o === null || typeof o !== "object") {
    bad("options", o, "an object with dims and xStrides", false);
  }
  const dims = o.dims;
  if (!Array.isArray(dims) || dims.length < 1 || dims.length > MAX_INPUT_DIMS) {
    bad("dims", dims, `an array of 1-${MAX_INPUT_DIMS} sizes`, Array.isArray(dims));
  }
  const r = dims.length;
  readList("dims", dims, r, 0);
  const xs = readList("xStrides", o.xStrides, r, 0);
  const ys = o.yStrides;
  if (ys !== undefined) readList("yStrides", ys, r, 0);
  for (let i = 0; i < r; i++) if (dims[i] === 0) return false;
  const n = canonical(dims, xs, ys);
  if (typeof n === "string") bad("dims and strides", dims, n);
  key[RANK] = n;
  let nx = 1, ny = 1;
  for (let k = 0; k < MAX_COPY_DIMS; k++) {
    const j = n - 1 - k;
    key[D + k] = k < n ? SD[j] : 0;
    key[XS + k] = k < n ? SX[j] : 0;
    key[YS + k] = k < n ? SY[j] : 0;
    if (k < n) {
      nx += (SD[j] - 1) * SX[j];
      ny += (SD[j] - 1) * SY[j];
    }
  }
  if (nx > MAX || ny > MAX) bad("the span", Math.max(nx, ny), `at most ${MAX} elements`);
  const lx = viewLength(x), ly = viewLength(y);
  if (lx < nx) bad("x.length", lx, `at least ${nx} (the elements the strides reach)`);
  if (ly < ny) bad("y.length", ly, `at least ${ny} (the elements the strides reach)`);
  extents[0] = 4 * nx;
  extents[1] = 4 * ny;
  return true;
}

/** The spec a key describes. */
export function decodeCopyKey(key: Int32Array): CopySpec {
  const s: CopySpec = { dims: [], xStrides: [], yStrides: [] };
  for (let k = 0; k < key[RANK]; k++) {
    s.dims.push(key[D + k]);
    s.xStrides.push(key[XS + k]);
    s.yStrides.push(key[YS + k]);
  }
  return s;
}
