/**
 * RoiAlign (opsets 10, 16, 22), as ONNX Runtime's CPU kernel pools: each
 * region [x1, y1, x2, y2] (times spatial_scale, less half a pixel with
 * half_pixel — opset 16's default; output_half_pixel, opset 10's, keeps
 * regions at least a pixel wide) cut into output_height × output_width bins,
 * each sampled on a grid (sampling_ratio, or the bin's size rounded up) by
 * bilinear interpolation; a bin's value the samples' mean, or with mode max
 * the largest of the samples' weighted corners (ONNX Runtime's form). A
 * TypeScript step. Also MaxRoiPool (opset 1), Fast R-CNN's pooling.
 */
import { expectType, fail, meta, need, type OpDef } from "./op.ts";

/** C's round: half away from zero. */
const roundAway = (v: number) => Math.sign(v) * Math.round(Math.abs(v));

/**
 * MaxRoiPool: each region [batch, x1, y1, x2, y2] (times spatial_scale, rounded to pixels,
 * at least 1×1) cut into pooled_shape bins ⌊i·size/bins⌋ … ⌈(i + 1)·size/bins⌉, each bin's
 * maximum (an empty bin, outside the image, 0). ONNX Runtime starts each maximum at
 * FLT_MIN, the smallest positive float, so a bin of negative values comes out as 1.2e-38
 * there; we give the maximum the spec asks for (Caffe's, −FLT_MAX start).
 */
const MAX_ROI_POOL: OpDef = {
  attributes: ["pooled_shape", "spatial_scale"],
  infer(n, ins) {
    const [x, rois] = need(n, ins, 2);
    expectType(n, x, 0, "float32");
    expectType(n, rois, 1, "float32");
    if (x.dims.length !== 4) fail(n, "X must be [N, C, H, W]");
    if (rois.dims.length !== 2 || rois.dims[1] !== 5) fail(n, "rois must be [num_rois, 5]");
    const shape = n.attrs.ints("pooled_shape") ?? fail(n, "pooled_shape is required");
    if (shape.length !== 2 || !shape.every((v) => v >= 1)) {
      fail(n, `pooled_shape [${shape}] must be two sizes ≥ 1`);
    }
    return [meta("float32", [rois.dims[0], x.dims[1], shape[0], shape[1]])];
  },
  build(n, ins, outs) {
    const x = ins[0]!, rois = ins[1]!.data as Float32Array, yd = outs[0].data as Float32Array;
    const [N, C, H, W] = x.dims, R = ins[1]!.dims[0], xd = x.data as Float32Array;
    const [ph, pw] = n.attrs.ints("pooled_shape")!, scale = n.attrs.float("spatial_scale", 1);
    const f = Math.fround;
    return {
      native: false,
      run: () => {
        for (let r = 0; r < R; r++) {
          const b = Math.trunc(rois[5 * r]);
          if (!(b >= 0 && b < N)) {
            throw new RangeError(`${n.op} node '${n.name}': rois[${r}]'s batch index is ${b}`);
          }
          const [sw, sh, ew, eh] = [1, 2, 3, 4].map((k) => roundAway(f(rois[5 * r + k] * scale)));
          const bh = f(Math.max(eh - sh + 1, 1) / ph), bw = f(Math.max(ew - sw + 1, 1) / pw);
          const clamp = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
          for (let c = 0; c < C; c++) {
            const plane = (b * C + c) * H * W, out = (r * C + c) * ph * pw;
            for (let i = 0; i < ph; i++) {
              const h0 = clamp(Math.floor(f(i * bh)) + sh, H);
              const h1 = clamp(Math.ceil(f((i + 1) * bh)) + sh, H);
              for (let j = 0; j < pw; j++) {
                const w0 = clamp(Math.floor(f(j * bw)) + sw, W);
                const w1 = clamp(Math.ceil(f((j + 1) * bw)) + sw, W);
                let best = h1 <= h0 || w1 <= w0 ? 0 : -Infinity;
                for (let h = h0; h < h1; h++) {
                  for (let w = w0; w < w1; w++) best = Math.max(best, xd[plane + h * W + w]);
                }
                yd[out + i * pw + j] = best;
              }
            }
          }
        }
      },
    };
  },
};

const ROI_ALIGN: OpDef = {
  attributes: [
    "coordinate_transformation_mode",
    "mode",
    "output_height",
    "output_width",
    "sampling_ratio",
    "spatial_scale",
  ],
  infer(n, ins) {
    const [x, rois, idx] = need(n, ins, 3);
    expectType(n, x, 0, "float32");
    expectType(n, rois, 1, "float32");
    expectType(n, idx, 2, "int64");
    if (x.dims.length !== 4) fail(n, "X must be [N, C, H, W]");
    if (rois.dims.length !== 2 || rois.dims[1] !== 4 || idx.dims.join() !== `${rois.dims[0]}`) {
      fail(n, "rois must be [num_rois, 4] and batch_indices [num_rois]");
    }
    const mode = n.attrs.string("mode", "avg");
    if (mode !== "avg" && mode !== "max") fail(n, `mode '${mode}' is not avg or max`);
    const oh = n.attrs.int("output_height", 1), ow = n.attrs.int("output_width", 1);
    return [meta("float32", [rois.dims[0], x.dims[1], oh, ow])];
  },
  build(n, ins, outs) {
    const x = ins[0]!, rois = ins[1]!.data as Float32Array, idx = ins[2]!.data as BigInt64Array;
    const [N, C, H, W] = x.dims, R = ins[1]!.dims[0];
    const oh = n.attrs.int("output_height", 1), ow = n.attrs.int("output_width", 1);
    const ratio = n.attrs.int("sampling_ratio", 0), scale = n.attrs.float("spatial_scale", 1);
    const max = n.attrs.string("mode", "avg") === "max";
    const half = n.attrs.string(
      "coordinate_transformation_mode",
      n.opset >= 16 ? "half_pixel" : "output_half_pixel",
    ) === "half_pixel";
    const xd = x.data as Float32Array, yd = outs[0].data as Float32Array;
    const f = Math.fround;
    return {
      native: false,
      run: () => {
        for (let r = 0; r < R; r++) {
          const b = Number(idx[r]);
          if (!(b >= 0 && b < N)) {
            throw new RangeError(`${n.op} node '${n.name}': batch_indices[${r}] is ${b}`);
          }
          const off = half ? 0.5 : 0;
          const sw = f(f(rois[4 * r] * scale) - off), sh = f(f(rois[4 * r + 1] * scale) - off);
          const ew = f(f(rois[4 * r + 2] * scale) - off), eh = f(f(rois[4 * r + 3] * scale) - off);
          let rw = f(ew - sw), rh = f(eh - sh);
          if (!half) rw = Math.max(rw, 1), rh = Math.max(rh, 1);
          const bw = f(rw / ow), bh = f(rh / oh);
          const gh = ratio > 0 ? ratio : Math.ceil(rh / oh),
            gw = ratio > 0 ? ratio : Math.ceil(rw / ow);
          const count = Math.max(gh * gw, 1);
          for (let c = 0; c < C; c++) {
            const plane = (b * C + c) * H * W;
            for (let ph = 0; ph < oh; ph++) {
              for (let pw = 0; pw < ow; pw++) {
                let acc = 0, best = -Infinity, any = false;
                for (let iy = 0; iy < gh; iy++) {
                  const y = f(f(sh + f(ph * bh)) + f(f(f(iy + 0.5) * bh) / gh));
                  for (let ix = 0; ix < gw; ix++) {
                    let xx = f(f(sw + f(pw * bw)) + f(f(f(ix + 0.5) * bw) / gw));
                    let yy = y;
                    if (yy < -1 || yy > H || xx < -1 || xx > W) {
                      // Outside: zero weights (a zero sample; max takes it as 0 too).
                      best = Math.max(best, 0);
                      any = true;
                      continue;
                    }
                    if (yy <= 0) yy = 0;
                    if (xx <= 0) xx = 0;
                    let yl = Math.trunc(yy), xl = Math.trunc(xx), yh: number, xh: number;
                    if (yl >= H - 1) yh = yl = H - 1, yy = yl;
                    else yh = yl + 1;
                    if (xl >= W - 1) xh = xl = W - 1, xx = xl;
                    else xh = xl + 1;
                    const ly = f(yy - yl), lx = f(xx - xl), hy = f(1 - ly), hx = f(1 - lx);
                    const w1 = f(hy * hx), w2 = f(hy * lx), w3 = f(ly * hx), w4 = f(ly * lx);
                    const p1 = xd[plane + yl * W + xl], p2 = xd[plane + yl * W + xh];
                    const p3 = xd[plane + yh * W + xl], p4 = xd[plane + yh * W + xh];
                    if (max) {
                      best = Math.max(best, f(w1 * p1), f(w2 * p2), f(w3 * p3), f(w4 * p4));
                      any = true;
                    } else {acc = f(
                        acc + f(f(f(f(w1 * p1) + f(w2 * p2)) + f(w3 * p3)) + f(w4 * p4)),
                      );}
                  }
                }
                yd[((r * C + c) * oh + ph) * ow + pw] = max ? (any ? best : 0) : f(acc / count);
              }
            }
          }
        }
      },
    };
  },
};

/** RoiAlign. */
export const ROI_ALIGN_OPS: Record<string, OpDef> = {
  RoiAlign: ROI_ALIGN,
  MaxRoiPool: MAX_ROI_POOL,
};
