/**
 * Random statically quantized layers in QDQ form (uint8 or int8
 * activations with random scales and zero points, int8 weights per tensor
 * or per output channel (7-bit where ORT's 8-bit GEMMs saturate), a float
 * bias): Conv (dense, depthwise, 1×1 and
 * 3×3, stride 1 or 2, a Relu), residual Add, MaxPool and GlobalAveragePool
 * between QuantizeLinear and DequantizeLinear pairs, against
 * onnxruntime-node at its level "all" (where it fuses QDQ groups into its
 * 8-bit kernels as we do). Outputs are dequantized bytes: each within one
 * quantization step of ONNX Runtime's, at most 10% of them a step off (an
 * int32 sum requantized and a float one quantized round apart at ties).
 * One quantized op after the input's by default: a step off in a chain
 * moves the next layers' inputs, and differences grow past one step
 * without any error (QDQ_STEPS=n chains n, for a look at that).
 *
 * @module
 */
import { InferenceSession, Tensor } from "../../mod.ts";
import { type Ort, ortExactWeightMax } from "../../tests/helpers/ort.ts";
import { GraphBuilder } from "../onnx_writer.ts";
import { type CaseResult, int, pick, rng } from "./shared.ts";

/** The weights' range: 7 bits where ORT's 8-bit GEMMs saturate (see ortExactWeightMax). */
const WEIGHT_MAX = ortExactWeightMax();

interface QAct {
  /** The DequantizeLinear output (float) of the quantized tensor. */
  name: string;
  c: number;
  h: number;
  w: number;
}

function build(
  r: () => number,
): { bytes: Uint8Array; dims: number[]; ops: string[]; step: number } {
  const g = new GraphBuilder(13);
  const type = pick(r, ["uint8", "int8"] as const);
  const [lo, hi] = type === "uint8" ? [0, 255] : [-128, 127];
  const scalar = (t: "float32" | "uint8" | "int8", v: number) =>
    g.initializer(g.fresh(t === "float32" ? "s" : "z"), { type: t, dims: [], data: [v] });
  let step = 0;
  /** x quantized with a random scale and zero point (or zero point `zero`), then dequantized. */
  const qdq = (x: string, zero?: number): string => {
    const s = Math.fround(pick(r, [0.01, 0.02, 0.03, 0.05, 0.08]) * (1 + r()));
    step = Math.max(step, s);
    const z = zero ?? int(r, lo + 40, hi - 40);
    const sc = scalar("float32", s), zp = scalar(type, z);
    return g.op("DequantizeLinear", [g.op("QuantizeLinear", [x, sc, zp]), sc, zp]);
  };
  const c0 = pick(r, [3, 8, 16]), size = pick(r, [8, 12, 16, 20]);
  g.input("x", "float32", [1, c0, size, size]);
  let cur: QAct = { name: qdq("x"), c: c0, h: size, w: size };
  const live: QAct[] = [cur];
  const ops: string[] = [];
  for (let step2 = 0, steps = Number(Deno.env.get("QDQ_STEPS") ?? 1); step2 < steps; step2++) {
    const op = pick(r, ["conv", "conv", "conv", "add", "maxpool", "gap"]);
    let next: QAct | null = null;
    if (op === "conv") {
      const k = pick(r, [1, 3]), st = pick(r, [1, 1, 2]), dw = cur.c > 1 && r() < 0.3;
      const oc = dw ? cur.c : pick(r, [4, 8, 16, 24, 32]), group = dw ? cur.c : 1;
      const per = (cur.c / group) * k * k, perChannel = r() < 0.7;
      const ws = Array.from(
        { length: perChannel ? oc : 1 },
        () => Math.fround((0.5 + r()) / (127 * Math.sqrt(per))),
      );
      const wq = Array.from({ length: oc * per }, () => int(r, -WEIGHT_MAX, WEIGHT_MAX));
      const W = g.initializer(g.fresh("w"), {
        type: "int8",
        dims: [oc, cur.c / group, k, k],
        data: wq,
      });
      const Ws = g.initializer(g.fresh("ws"), {
        type: "float32",
        dims: perChannel ? [oc] : [],
        data: ws,
      });
      const Wz = g.initializer(g.fresh("wz"), {
        type: "int8",
        dims: perChannel ? [oc] : [],
        data: new Array(perChannel ? oc : 1).fill(0),
      });
      const wf = g.op("DequantizeLinear", [W, Ws, Wz], perChannel ? { axis: 0 } : {});
      const p = (k - 1) >> 1, oh = Math.floor((cur.h + 2 * p - k) / st) + 1;
      const ins = [cur.name, wf];
      // The bias as quantize_static writes it: int32 at (input scale × weight scale); here the
      // input scale is not tracked, so a float bias (ORT and we fold it alike).
      if (r() < 0.6) {
        ins.push(g.weight(g.fresh("b"), [oc], Array.from({ length: oc }, () => r() - 0.5)));
      }
      let y = g.op("Conv", ins, {
        kernel_shape: [k, k],
        strides: [st, st],
        pads: [p, p, p, p],
        group,
      });
      const relu = r() < 0.5;
      if (relu) y = g.op("Relu", [y]);
      next = { name: qdq(y, relu && type === "uint8" ? 0 : undefined), c: oc, h: oh, w: oh };
      ops.push(
        `Conv${k}x${k}/${st}${dw ? "dw" : ""}${perChannel ? "" : "(per tensor)"}${
          relu ? "+Relu" : ""
        }`,
      );
    } else if (op === "add") {
      // Another tensor of its shape, or itself (x + x: the one case a single op has).
      const same = live.filter((t) => t.c === cur.c && t.h === cur.h);
      if (!same.length) continue;
      next = { ...cur, name: qdq(g.op("Add", [cur.name, pick(r, same).name])) };
      ops.push("Add");
    } else if (op === "maxpool") {
      const oh = Math.floor((cur.h + 2 - 3) / 2) + 1;
      const y = g.op("MaxPool", [cur.name], {
        kernel_shape: [3, 3],
        strides: [2, 2],
        pads: [1, 1, 1, 1],
      });
      next = { ...cur, name: qdq(y), h: oh, w: oh };
      ops.push("MaxPool");
    } else {
      if (step2 < steps - 1) continue;
      next = { ...cur, name: qdq(g.op("GlobalAveragePool", [cur.name])), h: 1, w: 1 };
      ops.push("GlobalAveragePool");
    }
    if (next) {
      live.push(next);
      cur = next;
    }
  }
  g.output(cur.name, "float32", [1, cur.c, cur.h, cur.w]);
  return { bytes: g.toBytes(), dims: [1, c0, size, size], ops, step };
}

/** One seeded QDQ model against ONNX Runtime's "all" level. */
export async function qdqCase(seed: number, ort: Ort): Promise<CaseResult> {
  const r = rng(seed);
  const { bytes, dims, ops, step } = build(r);
  const x = Float32Array.from({ length: dims.reduce((p, q) => p * q, 1) }, () => r() * 2 - 1);
  const label = `qdq seed ${seed} [${ops.join(" ")}] input ${dims.join("×")}`;
  let theirs: Record<string, { data: Float32Array }>;
  try {
    const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
    theirs = await s.run({ x: new ort.Tensor("float32", x, dims) });
    await s.release();
  } catch {
    return null;
  }
  for (const threads of [1, 2]) {
    try {
      const s = await InferenceSession.create(bytes, { intraOpNumThreads: threads });
      const ours = s.runSync({ x: new Tensor("float32", x, dims) });
      s.release();
      for (const [name, t] of Object.entries(theirs)) {
        const a = ours[name].data as Float32Array, b = t.data;
        let off = 0, worst = 0, at = 0;
        for (let i = 0; i < b.length; i++) {
          const d = Math.abs(a[i] - b[i]);
          if (d > 1e-6) off++;
          if (d > worst) [worst, at] = [d, i];
        }
        if (worst > step * 1.001 || off > Math.max(1, 0.1 * b.length)) {
          return `${label}, ${threads} threads, output ${name}: ${off} of ${b.length} off, ` +
            `worst ${worst} at ${at} (${a[at]} against ONNX Runtime's ${b[at]}), step ${step}`;
        }
      }
    } catch (e) {
      return `${label}, ${threads} threads: threw ${e}`;
    }
  }
  return null;
}
