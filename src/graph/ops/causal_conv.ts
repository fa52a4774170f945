/**
 * CausalConvWithState (opset 27): a causal depthwise 1-D convolution with a
 * carried state (Mamba's and Gated DeltaNet's), as its function body
 * computes it: the input left-padded by past_state (zeros without one), a
 * depthwise Conv of no padding on `jit.conv2d` (bias in its epilogue), then
 * for activation silu/swish a Sigmoid and a Mul; present_state the padded
 * input's last k − 1 positions.
 */
import type { Conv2dOptions } from "../../kernels/conv/mod.ts";
import { askedOutput, type Buf, expectType, fail, meta, need, type OpDef } from "./op.ts";

const ACTIVATIONS = ["none", "silu", "swish"];

export const CAUSAL_CONV_WITH_STATE: OpDef = {
  attributes: ["activation"],
  infer(n, ins) {
    const [x, w, bias, past] = need(n, ins, 2, 4);
    for (const [m, i] of [[x, 0], [w, 1], [bias, 2], [past, 3]] as const) {
      if (m) expectType(n, m, i, "float32");
    }
    const act = n.attrs.string("activation", "none");
    if (!ACTIVATIONS.includes(act)) {
      fail(n, `activation '${act}' is not one of ${ACTIVATIONS.join(", ")}`);
    }
    if (x.dims.length !== 3) fail(n, `input must be [batch, channels, length], got [${x.dims}]`);
    const [B, C] = x.dims, k = w.dims[2];
    if (w.dims.length !== 3 || w.dims[0] !== C || w.dims[1] !== 1 || !(k >= 1)) {
      fail(n, `weight must be [${C}, 1, k ≥ 1], got [${w.dims}]`);
    }
    if (bias && bias.dims.join() !== `${C}`) fail(n, `bias must be [${C}], got [${bias.dims}]`);
    if (past && past.dims.join() !== [B, C, k - 1].join()) {
      fail(n, `past_state must be [${[B, C, k - 1]}], got [${past.dims}]`);
    }
    return [meta("float32", x.dims), meta("float32", [B, C, k - 1])];
  },
  build(n, ins, outs, env) {
    const [x, w] = ins as Buf[], bias = ins[2] ?? null, past = ins[3] ?? null;
    const [B, C, L] = x.dims, k = w.dims[2], padded = L + k - 1;
    const xd = x.data as Float32Array, pd = past?.data as Float32Array | undefined;
    const yd = outs[0].data as Float32Array, sd = askedOutput(outs, 1);
    const act = n.attrs.string("activation", "none") !== "none";
    const buf = new Float32Array(B * C * padded), sig = act ? new Float32Array(yd.length) : null;
    const jit = env.jit, dims = [yd.length];
    const o: Conv2dOptions = {
      n: B,
      c: C,
      h: 1,
      w: padded,
      outChannels: C,
      kernel: [1, k],
      group: C,
      ...(bias ? { bias: bias.data as Float32Array } : {}),
    };
    const wd = w.data as Float32Array;
    return {
      native: false,
      run: () => {
        for (let r = 0; r < B * C; r++) {
          const at = r * padded;
          if (pd) { for (let j = 0; j < k - 1; j++) buf[at + j] = pd[r * (k - 1) + j]; }
          else buf.fill(0, at, at + k - 1);
          for (let j = 0; j < L; j++) buf[at + k - 1 + j] = xd[r * L + j];
          if (sd) { for (let j = 0; j < k - 1; j++) sd[r * (k - 1) + j] = buf[at + L + j]; }
        }
        if (L > 0) jit.conv2d(buf, wd, yd, o);
        if (sig) {
          jit.unary("sigmoid", yd, sig);
          jit.binary("mul", yd, dims, sig, dims, yd);
        }
      },
    };
  },
};
