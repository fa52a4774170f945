/**
 * Random CNN-style models with symbolic dims (N, H, W), each run on three
 * input shapes in turn (the first again last): a plan per shape, its arena
 * and its recorded calls kept and met again. Ops whose output shape follows
 * any input's: convolutions (dense, depthwise; stride 1 or 2, pads k/2),
 * BatchNormalization, activations, residual Adds between tensors whose
 * shapes agree for every input (the same strides since), max pooling,
 * GlobalAveragePool (then only channel-wise ops).
 *
 * @module
 */
import { GraphBuilder } from "../onnx_writer.ts";
import { batchNormNode } from "./nodes.ts";
import { int, pick } from "./shared.ts";

/** A built model: its bytes and the input shapes to run it on, in order. */
export interface BuiltDynamic {
  bytes: Uint8Array;
  shapes: number[][];
  ops: string[];
}

/** A random shape-generic model on x of [N, C, H, W]. */
export function buildDynamicGraph(r: () => number): BuiltDynamic {
  const g = new GraphBuilder(pick(r, [14, 17])); // HardSwish is opset 14's
  const rand = (n: number, s: number) => Array.from({ length: n }, () => (r() * 2 - 1) * s);
  const c0 = pick(r, [1, 3, int(r, 2, 16)]);
  g.input("x", "float32", ["N", c0, "H", "W"]);
  // A tensor: its name, channels and the strides applied since the input (its shape's rule).
  interface T {
    name: string;
    c: number;
    rule: string;
  }
  let cur: T = { name: "x", c: c0, rule: "" };
  const live: T[] = [cur];
  const ops: string[] = [];
  let pooled = false;
  for (let s = 0, steps = int(r, 2, 10); s < steps; s++) {
    const op = pick(r, ["conv", "conv", "conv", "bn", "act", "add", "pool", "gap"]);
    let next: T | null = null;
    if (op === "conv" && !pooled) {
      const k = pick(r, [1, 3, 3, 5]), st = pick(r, [1, 1, 2]), p = (k - 1) >> 1;
      const dw = cur.c > 1 && r() < 0.3, oc = dw ? cur.c : pick(r, [4, 8, 16, 24]);
      const group = dw ? cur.c : 1, fan = (cur.c / group) * k * k;
      const ins = [
        cur.name,
        g.weight(g.fresh("w"), [oc, cur.c / group, k, k], rand(oc * fan, 1.5 / Math.sqrt(fan))),
      ];
      if (r() < 0.6) ins.push(g.weight(g.fresh("b"), [oc], rand(oc, 0.2)));
      const name = g.op("Conv", ins, {
        kernel_shape: [k, k],
        strides: [st, st],
        pads: [p, p, p, p],
        group,
      });
      next = { name, c: oc, rule: st === 1 ? cur.rule : `${cur.rule}/2k${k}` };
      ops.push(`Conv${k}x${k}/${st}${dw ? "dw" : ""}`);
    } else if (op === "bn") {
      next = { ...cur, name: batchNormNode(g, cur.name, cur.c, rand) };
      ops.push("BN");
    } else if (op === "act") {
      const a = pick(r, ["Relu", "Sigmoid", "Tanh", "HardSwish", "LeakyRelu"]);
      next = { ...cur, name: g.op(a, [cur.name]) };
      ops.push(a);
    } else if (op === "add") {
      const same = live.filter((t) => t !== cur && t.c === cur.c && t.rule === cur.rule);
      if (!same.length) continue;
      next = { ...cur, name: g.op("Add", [cur.name, pick(r, same).name]) };
      ops.push("Add(res)");
    } else if (op === "pool" && !pooled) {
      const name = g.op("MaxPool", [cur.name], {
        kernel_shape: [3, 3],
        strides: [2, 2],
        pads: [1, 1, 1, 1],
      });
      next = { ...cur, name, rule: `${cur.rule}/mp` };
      ops.push("MaxPool");
    } else if (op === "gap" && !pooled) {
      next = { ...cur, name: g.op("GlobalAveragePool", [cur.name]), rule: "gap" };
      pooled = true;
      ops.push("GAP");
    }
    if (next) {
      live.push(next);
      cur = next;
    }
  }
  g.output(cur.name, "float32", null);
  const h = int(r, 5, 20), w = int(r, 5, 20);
  const shapes = [[1, c0, h, w], [pick(r, [1, 2]), c0, h + int(r, 1, 6), w + int(r, 0, 5)], [
    1,
    c0,
    h,
    w,
  ]];
  return { bytes: g.toBytes(), shapes, ops };
}
