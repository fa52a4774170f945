/**
 * GridSample (opsets 16, 20, 22) on 4-D input, and on 5-D (volumes, opset 20 on) with linear
 * (trilinear) or nearest sampling, as ONNX Runtime's CPU kernel
 * samples: grid (x, y[, z]) in [−1, 1] to pixel positions (align_corners: the
 * corner pixels' centres, else their outer edges); linear (bilinear), nearest
 * (half to even) or cubic (Keys, a = −0.75, 4×4; 4-D only) interpolation; padding for
 * the neighbours outside the image: zeros, border (clamped) or reflection
 * (reflected by the near border, index by index as ONNX Runtime does).
 * A TypeScript step. Also AffineGrid (opset 20), which makes such grids.
 */
import type { Node } from "../ir.ts";
import { type Buf, expectType, fail, knownInts, meta, need, type OpDef, type Step } from "./op.ts";

const MODES: Record<string, "linear" | "nearest" | "cubic"> = {
  bilinear: "linear",
  linear: "linear",
  nearest: "nearest",
  bicubic: "cubic",
  cubic: "cubic",
};

/** A grid coordinate in [−1, 1] as a position along an axis of `len` pixels. */
function pixelOf(v: number, len: number, align: boolean): number {
  return align ? ((v + 1) / 2) * (len - 1) : ((v + 1) * len - 1) / 2;
}

/** v rounded to the nearest integer, halves to even (nearest mode). */
function even(v: number): number {
  const f = Math.floor(v), d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

/** x reflected by the near border until inside [lo, hi]. */
function reflect(x: number, lo: number, hi: number): number {
  const range = hi - lo;
  if (x < lo) {
    const d = lo - x, k = Math.trunc(d / range), r = d - k * range;
    return k % 2 === 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    const d = x - hi, k = Math.trunc(d / range), r = d - k * range;
    return k % 2 === 0 ? hi - r : lo + r;
  }
  return x;
}

/** Keys' cubic convolution weights for a fraction t. */
function cubic(t: number): number[] {
  const a = -0.75, x = Math.abs(t);
  return [
    ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a,
    ((a + 2) * x - (a + 3)) * x * x + 1,
    ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1,
    ((a * (2 - x) - 5 * a) * (2 - x) + 8 * a) * (2 - x) - 4 * a,
  ];
}

const GRID_SAMPLE: OpDef = {
  attributes: ["align_corners", "mode", "padding_mode"],
  infer(n, ins) {
    const [x, grid] = need(n, ins, 2);
    expectType(n, x, 0, "float32");
    expectType(n, grid, 1, "float32");
    const r = x.dims.length;
    if (r !== 4 && !(r === 5 && n.opset >= 20)) {
      fail(n, `input must be 4-D${n.opset >= 20 ? " or 5-D" : ""}, got rank ${r}`);
    }
    const g = grid.dims;
    if (g.length !== r || g[0] !== x.dims[0] || g[r - 1] !== r - 2) {
      const want = r === 4 ? "H, W, 2" : "D, H, W, 3";
      fail(n, `grid must be [${x.dims[0]}, ${want}], got [${g.join(", ")}]`);
    }
    const mode = n.attrs.string("mode", n.opset >= 20 ? "linear" : "bilinear");
    if (!MODES[mode]) fail(n, `mode '${mode}' is not supported`);
    if (r === 5 && MODES[mode] === "cubic") fail(n, "cubic mode takes 4-D input only");
    const pad = n.attrs.string("padding_mode", "zeros");
    if (!["zeros", "border", "reflection"].includes(pad)) {
      fail(n, `padding_mode '${pad}' is not supported`);
    }
    return [meta("float32", [x.dims[0], x.dims[1], ...g.slice(1, r - 1)])];
  },
  build(n, ins, outs) {
    if (ins[0]!.dims.length === 5) return volumeStep(n, ins[0]!, ins[1]!, outs[0]);
    const x = ins[0]!, grid = ins[1]!, y = outs[0];
    const [N, C, H, W] = x.dims, [, Ho, Wo] = grid.dims;
    const mode = MODES[n.attrs.string("mode", n.opset >= 20 ? "linear" : "bilinear")];
    const pad = n.attrs.string("padding_mode", "zeros");
    const align = n.attrs.int("align_corners", 0) !== 0;
    const xd = x.data as Float32Array, gd = grid.data as Float32Array, yd = y.data as Float32Array;
    const denorm = (v: number, len: number) => pixelOf(v, len, align);
    const [x0, x1, y0, y1] = align ? [0, W - 1, 0, H - 1] : [-0.5, W - 0.5, -0.5, H - 0.5];
    const pixel = (plane: number, r: number, c: number): number => {
      if (pad === "zeros") return c >= 0 && c < W && r >= 0 && r < H ? xd[plane + r * W + c] : 0;
      if (pad === "border") {
        return xd[plane + Math.min(H - 1, Math.max(0, r)) * W + Math.min(W - 1, Math.max(0, c))];
      }
      const cc = Math.trunc(reflect(c, x0, x1)), rr = Math.trunc(reflect(r, y0, y1));
      return xd[plane + rr * W + cc];
    };
    return {
      native: false,
      run: () => {
        for (let b = 0; b < N; b++) {
          for (let c = 0; c < C; c++) {
            const plane = (b * C + c) * H * W, out = (b * C + c) * Ho * Wo;
            for (let p = 0; p < Ho * Wo; p++) {
              const gx = denorm(gd[(b * Ho * Wo + p) * 2], W);
              const gy = denorm(gd[(b * Ho * Wo + p) * 2 + 1], H);
              let v: number;
              if (mode === "nearest") v = pixel(plane, even(gy), even(gx));
              else if (mode === "linear") {
                const cx = Math.floor(gx), cy = Math.floor(gy);
                const dx1 = gx - cx, dx2 = cx + 1 - gx, dy1 = gy - cy, dy2 = cy + 1 - gy;
                v = dy2 * (dx2 * pixel(plane, cy, cx) + dx1 * pixel(plane, cy, cx + 1)) +
                  dy1 * (dx2 * pixel(plane, cy + 1, cx) + dx1 * pixel(plane, cy + 1, cx + 1));
              } else {
                const cx = Math.floor(gx) - 1, cy = Math.floor(gy) - 1;
                const wx = cubic(gx - cx - 1), wy = cubic(gy - cy - 1);
                v = 0;
                for (let i = 0; i < 4; i++) {
                  let row = 0;
                  for (let j = 0; j < 4; j++) row += wx[j] * pixel(plane, cy + i, cx + j);
                  v += wy[i] * row;
                }
              }
              yd[out + p] = v;
            }
          }
        }
      },
    };
  },
};

/**
 * GridSample of a volume (x [N, C, D, H, W], grid [N, Do, Ho, Wo, 3] of (x, y, z)): each
 * axis as the 4-D step takes it, trilinear over the 8 neighbours (z, then y, then x
 * weights, as ONNX Runtime sums them) or the nearest (half to even).
 */
function volumeStep(n: Node, x: Buf, grid: Buf, y: Buf): Step {
  const [N, C, D, H, W] = x.dims, [, Do, Ho, Wo] = grid.dims, P = Do * Ho * Wo;
  const nearest = MODES[n.attrs.string("mode", "linear")] === "nearest";
  const pad = n.attrs.string("padding_mode", "zeros");
  const align = n.attrs.int("align_corners", 0) !== 0;
  const xd = x.data as Float32Array, gd = grid.data as Float32Array, yd = y.data as Float32Array;
  const denorm = (v: number, len: number) => pixelOf(v, len, align);
  const lo = align ? 0 : -0.5, hi = (len: number) => (align ? len - 1 : len - 0.5);
  /** An index along an axis of `len` as the padding mode reads it; −1: a zero. */
  const at = (i: number, len: number): number => {
    if (pad === "zeros") return i >= 0 && i < len ? i : -1;
    if (pad === "border") return Math.min(len - 1, Math.max(0, i));
    return Math.trunc(reflect(i, lo, hi(len)));
  };
  const voxel = (volume: number, z: number, r: number, c: number): number => {
    const zz = at(z, D), rr = at(r, H), cc = at(c, W);
    return zz < 0 || rr < 0 || cc < 0 ? 0 : xd[volume + (zz * H + rr) * W + cc];
  };
  return {
    native: false,
    run: () => {
      for (let b = 0; b < N; b++) {
        for (let c = 0; c < C; c++) {
          const volume = (b * C + c) * D * H * W, out = (b * C + c) * P;
          for (let p = 0; p < P; p++) {
            const g = (b * P + p) * 3;
            const gx = denorm(gd[g], W), gy = denorm(gd[g + 1], H), gz = denorm(gd[g + 2], D);
            if (nearest) {
              yd[out + p] = voxel(volume, even(gz), even(gy), even(gx));
              continue;
            }
            const cx = Math.floor(gx), cy = Math.floor(gy), cz = Math.floor(gz);
            const dx1 = gx - cx, dx2 = cx + 1 - gx, dy1 = gy - cy, dy2 = cy + 1 - gy;
            const dz1 = gz - cz, dz2 = cz + 1 - gz;
            const plane = (z: number) =>
              dy2 * (dx2 * voxel(volume, z, cy, cx) + dx1 * voxel(volume, z, cy, cx + 1)) +
              dy1 * (dx2 * voxel(volume, z, cy + 1, cx) + dx1 * voxel(volume, z, cy + 1, cx + 1));
            yd[out + p] = dz2 * plane(cz) + dz1 * plane(cz + 1);
          }
        }
      }
    },
  };
}

/**
 * A base grid axis of `len` points in float32 as ONNX Runtime makes it: −1 + i·(2 / (len − 1))
 * (1 for a single point), scaled by (len − 1) / len without align_corners (the pixels' centres).
 */
function baseAxis(len: number, align: boolean): Float32Array {
  const f = Math.fround, step = f(2 / (len - 1)), v = new Float32Array(len);
  for (let i = 0; i < len; i++) {
    v[i] = len === 1 ? 1 : i === len - 1 ? 1 : f(-1 + f(i * step));
    if (!align) v[i] = f(f(v[i] * (len - 1)) / len);
  }
  return v;
}

/**
 * AffineGrid (opset 20): for each of N affine matrices θ ([N, 2, 3] or [N, 3, 4]) the grid
 * [N, (D,) H, W, 2|3] of θ · (x, y, (z,) 1) over the base grid of `size` ([N, C, (D,) H, W]).
 */
const AFFINE_GRID: OpDef = {
  attributes: ["align_corners"],
  infer(n, ins) {
    const [theta] = need(n, ins, 2);
    expectType(n, theta, 0, "float32");
    const size = knownInts(n, ins[1], "size");
    const r = size.length - 2;
    if (r !== 2 && r !== 3) fail(n, `size must have 4 or 5 values, got [${size}]`);
    if (theta.dims.join() !== [size[0], r, r + 1].join()) {
      fail(n, `theta [${theta.dims}] must be [${size[0]}, ${r}, ${r + 1}]`);
    }
    if (size.some((d) => !(d >= 1))) fail(n, `size [${size}] must be ≥ 1`);
    return [meta("float32", [size[0], ...size.slice(2), r])];
  },
  build(n, ins, outs) {
    const size = knownInts(n, ins[1], "size"), r = size.length - 2;
    const align = n.attrs.int("align_corners", 0) !== 0;
    // Spatial sizes innermost first: W (x), H (y), D (z).
    const lens = size.slice(2).reverse(), axes = lens.map((l) => baseAxis(l, align));
    const points = lens.reduce((a, b) => a * b, 1);
    const t = ins[0]!.data as Float32Array, y = outs[0].data as Float32Array;
    const base = new Float32Array(r);
    return {
      native: false,
      run: () => {
        for (let b = 0; b < size[0]; b++) {
          const tb = b * r * (r + 1);
          for (let p = 0; p < points; p++) {
            for (let a = 0, rest = p; a < r; a++) {
              base[a] = axes[a][rest % lens[a]];
              rest = Math.floor(rest / lens[a]);
            }
            for (let o = 0; o < r; o++) {
              let v = t[tb + o * (r + 1) + r];
              for (let a = 0; a < r; a++) v += t[tb + o * (r + 1) + a] * base[a];
              y[(b * points + p) * r + o] = v;
            }
          }
        }
      },
    };
  },
};

/** GridSample and AffineGrid. */
export const GRID_SAMPLE_OPS: Record<string, OpDef> = {
  GridSample: GRID_SAMPLE,
  AffineGrid: AFFINE_GRID,
};
