/**
 * DeformConv (opset 19, 2-D; DCNv1 and, with a mask, DCNv2): each kernel tap
 * of each output position reads the input at its regular place moved by its
 * learned offset (Δh, Δw per offset group), bilinearly interpolated (zero
 * outside the image, as torchvision and ONNX Runtime sample), times the
 * mask's value when given. The sampled columns [C·kH·kW, oH·oW] are built in
 * TypeScript per image — each sample's four corners and weights once per
 * offset group, shared by its channels —, then one batched GEMM over the
 * groups, and the bias.
 */
import type { Node } from "../ir.ts";
import { expectType, fail, type Meta, meta, need, type OpDef } from "./op.ts";
import { windowNd } from "./window_im2col.ts";

/** The node's geometry from X [N, C, H, W], W [oC, C/group, kH, kW] and the attributes. */
function deformShape(n: Node, ins: readonly (Meta | null)[]) {
  const [x, w, offset] = need(n, ins, 3, 5);
  for (const i of [0, 1, 2, 3, 4]) if (ins[i]) expectType(n, ins[i]!, i, "float32");
  if (x.dims.length !== 4 || w.dims.length !== 4) fail(n, "X and W must be 4-D (2-D only)");
  const [N, C, H, W] = x.dims, [OC, CG, KH, KW] = w.dims;
  const group = n.attrs.int("group", 1), og = n.attrs.int("offset_group", 1);
  if (!(group >= 1 && og >= 1) || C % group !== 0 || C % og !== 0 || OC % group !== 0) {
    fail(n, `group ${group} / offset_group ${og} do not divide C ${C} and M ${OC}`);
  }
  if (CG !== C / group) fail(n, `W's channels ${CG} are not C / group = ${C / group}`);
  const win = windowNd(n, x, [KH, KW], false);
  const [OH, OW] = win.out;
  const K = KH * KW;
  if (offset.dims.join() !== [N, og * 2 * K, OH, OW].join()) {
    fail(n, `offset [${offset.dims}] must be [${[N, og * 2 * K, OH, OW]}]`);
  }
  const b = ins[3], mask = ins[4];
  if (b && b.dims.join() !== `${OC}`) fail(n, `B must be [${OC}]`);
  if (mask && mask.dims.join() !== [N, og * K, OH, OW].join()) {
    fail(n, `mask [${mask.dims}] must be [${[N, og * K, OH, OW]}]`);
  }
  return { N, C, H, W, OC, KH, KW, K, OH, OW, group, og, win };
}

const DEFORM_CONV: OpDef = {
  attributes: ["dilations", "group", "kernel_shape", "offset_group", "pads", "strides"],
  infer(n, ins) {
    const s = deformShape(n, ins);
    return [meta("float32", [s.N, s.OC, s.OH, s.OW])];
  },
  build(n, ins, outs, env) {
    const { N, C, H, W, OC, KH, KW, K, OH, OW, group, og, win } = deformShape(n, ins);
    const xd = ins[0]!.data as Float32Array, wd = ins[1]!.data as Float32Array;
    const od = ins[2]!.data as Float32Array, bd = ins[3]?.data as Float32Array | undefined;
    const md = ins[4]?.data as Float32Array | undefined, yd = outs[0].data as Float32Array;
    const P = OH * OW, cpg = C / og, cols = new Float32Array(C * K * P);
    const [sh, sw] = win.strides, [dh, dw] = win.dilations, [ph, pw] = win.begin;
    const jit = env.jit, rows = (C / group) * K, M = OC / group;
    const gemm = {
      m: M,
      n: P,
      k: rows,
      batch: group,
      strideA: M * rows,
      strideB: rows * P,
      strideC: M * P,
    };
    // Each (offset group, tap, position)'s four corners — plane offsets and bilinear weights
    // times the mask, zero outside the image as torchvision tests them — made once per image
    // and shared by the group's channels.
    const at = new Int32Array(og * K * P * 4), wt = new Float64Array(og * K * P * 4);
    // Each image's output, and the bias's broadcast: made once, the run allocates nothing.
    const images = Array.from({ length: N }, (_, b) => yd.subarray(b * OC * P, (b + 1) * OC * P));
    const outDims = [OC, P], biasDims = [OC, 1];
    const corners = (b: number) => {
      for (let g = 0; g < og; g++) {
        for (let i = 0; i < KH; i++) {
          for (let j = 0; j < KW; j++) {
            const k = i * KW + j;
            const oh = ((b * og + g) * 2 * K + 2 * k) * P, ow = oh + P;
            const mo = ((b * og + g) * K + k) * P;
            for (let y = 0; y < OH; y++) {
              for (let x = 0; x < OW; x++) {
                const p = y * OW + x, e = ((g * K + k) * P + p) * 4;
                const h = y * sh - ph + i * dh + od[oh + p], w = x * sw - pw + j * dw + od[ow + p];
                at[e] =
                  at[e + 1] =
                  at[e + 2] =
                  at[e + 3] =
                    0;
                wt[e] =
                  wt[e + 1] =
                  wt[e + 2] =
                  wt[e + 3] =
                    0;
                if (!(h > -1 && w > -1 && h < H && w < W)) continue;
                const h0 = Math.floor(h), w0 = Math.floor(w), h1 = h0 + 1, w1 = w0 + 1;
                const lh = h - h0, lw = w - w0, hh = 1 - lh, hw = 1 - lw;
                const m = md ? md[mo + p] : 1;
                if (h0 >= 0 && w0 >= 0) at[e] = h0 * W + w0, wt[e] = hh * hw * m;
                if (h0 >= 0 && w1 <= W - 1) at[e + 1] = h0 * W + w1, wt[e + 1] = hh * lw * m;
                if (h1 <= H - 1 && w0 >= 0) at[e + 2] = h1 * W + w0, wt[e + 2] = lh * hw * m;
                if (h1 <= H - 1 && w1 <= W - 1) at[e + 3] = h1 * W + w1, wt[e + 3] = lh * lw * m;
              }
            }
          }
        }
      }
    };
    return {
      native: false,
      run: () => {
        for (let b = 0; b < N; b++) {
          corners(b);
          for (let c = 0; c < C; c++) {
            const g = Math.floor(c / cpg), plane = (b * C + c) * H * W;
            for (let k = 0; k < K; k++) {
              const row = (c * K + k) * P, base = (g * K + k) * P * 4;
              for (let p = 0; p < P; p++) {
                const e = base + p * 4;
                cols[row + p] = wt[e] * xd[plane + at[e]] + wt[e + 1] * xd[plane + at[e + 1]] +
                  wt[e + 2] * xd[plane + at[e + 2]] + wt[e + 3] * xd[plane + at[e + 3]];
              }
            }
          }
          const y = images[b];
          jit.gemm(wd, cols, y, gemm);
          if (bd) jit.binary("add", y, outDims, bd, biasDims, y);
        }
      },
    };
  },
};

/** DeformConv. */
export const DEFORM_CONV_OPS: Record<string, OpDef> = { DeformConv: DEFORM_CONV };
