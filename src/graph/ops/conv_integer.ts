/**
 * ConvInteger (opset 10): 8-bit input and weights, int32 output, exactly —
 * what ONNX Runtime's quantize_dynamic makes of a Conv (a ViT's patch
 * embedding, Whisper's 1-D convolutions). Per image and group, the input's
 * windows as uint8 rows (im2col; padding holds the input's zero point, so
 * it adds nothing), times the weights packed once as int8 columns, on
 * `jit.gemmInt8` (AVX-512 VNNI, else its scalar loop): A's zero point is
 * read by the kernel, the weights' per-channel zero points come in as a
 * per-row term; the [positions × channels] sums are then written
 * channel-major. 1-D and 2-D, with strides, dilations, pads, auto_pad and
 * groups.
 */
import type { TensorData } from "../../onnx/dtype.ts";
import type { PackedInt8B } from "../../kernels/qgemm/mod.ts";
import { outDims, type Window, windowOf } from "./conv.ts";
import { int8ConvOf } from "./conv_int8.ts";
import { expectType, fail, meta, need, type OpDef, settledStep, sizeOf } from "./op.ts";

/** Leading pads of both axes, resolved from auto_pad as ONNX defines it. */
function leadingPads(w: Window, out: number[]): [number, number] {
  const lead = (axis: 0 | 1) => {
    const size = w.hw[axis], k = w.kernel[axis], s = w.strides[axis], d = w.dilations[axis];
    if (w.autoPad === "VALID") return 0;
    if (w.autoPad === "NOTSET") return w.pads[axis];
    const total = Math.max(0, (out[axis] - 1) * s + (k - 1) * d + 1 - size);
    return w.autoPad === "SAME_UPPER" ? Math.floor(total / 2) : Math.ceil(total / 2);
  };
  return [lead(0), lead(1)];
}

export const CONV_INTEGER: OpDef = {
  attributes: ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"],
  infer(n, ins) {
    const [x, wt, xz, wz] = need(n, ins, 2, 4);
    expectType(n, x, 0, "uint8", "int8");
    expectType(n, wt, 1, "uint8", "int8");
    if (xz) {
      expectType(n, xz, 2, x.type);
      if (sizeOf(xz.dims) !== 1) fail(n, "x_zero_point must be a scalar");
    }
    if (wz) {
      expectType(n, wz, 3, wt.type);
      if (sizeOf(wz.dims) !== 1 && sizeOf(wz.dims) !== wt.dims[0]) {
        fail(n, `w_zero_point must be a scalar or have ${wt.dims[0]} values (one per channel)`);
      }
    }
    const group = n.attrs.int("group", 1);
    if (wt.dims.length !== x.dims.length) {
      fail(n, `W has rank ${wt.dims.length}, X ${x.dims.length}`);
    }
    if (group < 1 || x.dims[1] % group !== 0 || wt.dims[0] % group !== 0) {
      fail(n, `group ${group} does not divide the ${x.dims[1]} input and ${wt.dims[0]} outputs`);
    }
    if (wt.dims[1] * group !== x.dims[1]) {
      fail(n, `W expects ${wt.dims[1] * group} input channels, X has ${x.dims[1]}`);
    }
    const w = windowOf(n, x, wt.dims.slice(2));
    return [meta("int32", outDims(x, wt.dims[0], w, false))];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!, wt = ins[1]!, xz = ins[2] ?? null, wz = ins[3] ?? null, y = outs[0];
    const native = (y.data as Int32Array).byteOffset % 4 === 0
      ? int8ConvOf(n, x, wt, wz, env)
      : null;
    if (native) {
      return settledStep(
        [xz],
        () => native.options.xZeroPoint = xz ? Number((xz.data as TensorData)[0]) : 0,
        () => native.run(y.data as Int32Array),
        native.native,
      );
    }
    const jit = env.jit, group = n.attrs.int("group", 1);
    const w = windowOf(n, x, wt.dims.slice(2));
    const yd4 = outDims(x, wt.dims[0], w, false);
    const [oh, ow] = yd4.length === 3 ? [1, yd4[2]] : [yd4[2], yd4[3]];
    const [padT, padL] = leadingPads(w, [oh, ow]);
    const batch = x.dims[0], c = x.dims[1], [h, wd] = w.hw, [kh, kw] = w.kernel;
    const oc = wt.dims[0], cg = c / group, ocg = oc / group;
    const K = cg * kh * kw, k4 = Math.ceil(K / 4) * 4, P = oh * ow;
    const xSigned = x.type === "int8", wUnsigned = wt.type === "uint8";
    // Each window element's offset in a group's input planes (−1: padding), position-major.
    const taps = new Int32Array(P * K);
    for (let oy = 0, p = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++, p++) {
        for (let ci = 0, t = p * K; ci < cg; ci++) {
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * w.strides[0] - padT + ky * w.dilations[0];
            for (let kx = 0; kx < kw; kx++, t++) {
              const ix = ox * w.strides[1] - padL + kx * w.dilations[1];
              taps[t] = iy < 0 || iy >= h || ix < 0 || ix >= wd ? -1 : (ci * h + iy) * wd + ix;
            }
          }
        }
      }
    }
    // The weights of each group as int8 columns (uint8 shifted by −128, its zero point too):
    // packed once when W and its zero point are constants, else on each run (weights fed as
    // inputs, as ONNX's own ConvInteger and QLinearConv cases have them).
    const wd8 = wt.data as Uint8Array | Int8Array;
    const zw = new Int32Array(oc), columns = new Int8Array(K * ocg);
    let packed: PackedInt8B[] = [], anyZw = false;
    const pack = () => {
      for (let o = 0; o < oc; o++) {
        const z = wz ? Number((wz.data as TensorData)[sizeOf(wz.dims) === 1 ? 0 : o]) : 0;
        zw[o] = z - (wUnsigned ? 128 : 0);
      }
      anyZw = zw.some((z) => z !== 0);
      packed = Array.from({ length: group }, (_, g) => {
        for (let o = 0; o < ocg; o++) {
          for (let kk = 0; kk < K; kk++) {
            const v = wd8[(g * ocg + o) * K + kk];
            columns[kk * ocg + o] = wUnsigned ? v - 128 : v;
          }
        }
        return jit.packInt8B(columns, { k: K, n: ocg });
      });
    };
    const fed = !wt.constant || (wz !== null && !wz.constant);
    if (!fed) pack();
    const xd = x.data as Uint8Array | Int8Array, yd = y.data as Int32Array;
    const a = new Uint8Array(P * k4), sums = new Int32Array(P * ocg);
    const aZeroPoint = new Uint8Array(4), rowSums = new Int32Array(P);
    const options = { m: P, n: ocg, k: K, lda: k4, aZeroPoint };
    return {
      native: false,
      run: () => {
        if (fed) pack();
        const za = (xz ? Number((xz.data as TensorData)[0]) : 0) + (xSigned ? 128 : 0);
        aZeroPoint[0] = za;
        for (let b = 0; b < batch; b++) {
          for (let g = 0; g < group; g++) {
            const base = (b * c + g * cg) * h * wd;
            for (let p = 0; p < P; p++) {
              let rs = 0;
              for (let kk = 0, t = p * K, at = p * k4; kk < K; kk++) {
                const src = taps[t + kk];
                const v = src < 0 ? za : xSigned ? xd[base + src] + 128 : xd[base + src];
                a[at + kk] = v;
                rs += v - za;
              }
              rowSums[p] = rs;
            }
            jit.gemmInt8(a, packed[g], sums, options);
            // Channel-major out, with the weights' zero points: − zw·Σ(a − za) per position.
            for (let o = 0; o < ocg; o++) {
              const z = zw[g * ocg + o], out = ((b * oc) + g * ocg + o) * P;
              for (let p = 0; p < P; p++) {
                const v = sums[p * ocg + o];
                yd[out + p] = anyZw ? (v - Math.imul(z, rowSums[p])) | 0 : v;
              }
            }
          }
        }
      },
    };
  },
};

/** The ConvInteger definition. */
export const CONV_INTEGER_OPS: Record<string, OpDef> = { ConvInteger: CONV_INTEGER };
