/**
 * QLinearConv's paths on every ISA level the machine has, against int32
 * loops and MLAS's requantizing: the 8-bit kernel (VNNI), the exact float
 * path (below VNNI, groups, zero-point weights) — whole, or for deep layers
 * with the weights split as 16·h + l — and the bound that sends a layer
 * elsewhere.
 */
import assert from "node:assert/strict";
import { isaLevel, Jit } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { Attrs, type Node } from "../src/graph/ir.ts";
import type { Buf } from "../src/graph/ops/op.ts";
import { QLINEAR_OPS } from "../src/graph/ops/qlinear.ts";
import { WeightCache } from "../src/graph/weights.ts";
import { int, rng } from "./helpers/random.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");
const f = Math.fround;

interface Layer {
  c: number;
  oc: number;
  size: number;
  group: number;
  /** uint8 weights at this zero point, or int8 ones at 0 (null). */
  wZero: number | null;
}

function roundEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function run(jit: Jit, l: Layer, seed: number): { got: Uint8Array; want: Uint8Array } {
  const r = rng(seed), { c, oc, size, group } = l, cg = c / group, k = 3;
  const x = Uint8Array.from({ length: c * size * size }, () => int(r, 0, 255));
  const w = l.wZero === null
    ? Int8Array.from({ length: oc * cg * 9 }, () => int(r, -127, 127))
    : Uint8Array.from({ length: oc * cg * 9 }, () => int(r, 0, 255));
  const bias = Int32Array.from({ length: oc }, () => int(r, -5000, 5000));
  const xz = 3, yz = 100, xs = 0.05, ys = 0.5;
  const ws = Float32Array.from({ length: oc }, () => 0.0005 + r() * 0.002);
  const buf = (type: Buf["type"], dims: number[], data: Buf["data"], constant = true): Buf => ({
    type,
    dims,
    data,
    constant,
  });
  const y = new Uint8Array(oc * size * size);
  const node: Node = {
    op: "QLinearConv",
    domain: "",
    name: "conv",
    inputs: [],
    outputs: ["y"],
    attrs: new Attrs(
      new Map<string, number[] | number>([["kernel_shape", [3, 3]], ["pads", [1, 1, 1, 1]], [
        "group",
        group,
      ]]),
      "QLinearConv node 'conv'",
    ),
    opset: 13,
  };
  const ins = [
    buf("uint8", [1, c, size, size], x, false),
    buf("float32", [], Float32Array.of(xs)),
    buf("uint8", [], Uint8Array.of(xz)),
    buf(l.wZero === null ? "int8" : "uint8", [oc, cg, k, k], w),
    buf("float32", [oc], ws),
    l.wZero === null
      ? buf("int8", [oc], new Int8Array(oc))
      : buf("uint8", [], Uint8Array.of(l.wZero)),
    buf("float32", [], Float32Array.of(ys)),
    buf("uint8", [], Uint8Array.of(yz)),
    buf("int32", [oc], bias),
  ];
  const step = QLINEAR_OPS.QLinearConv.build(node, ins, [buf("uint8", [1, oc, size, size], y)], {
    jit,
    weights: new WeightCache(jit),
    memory: null,
  })!;
  step.run();
  // The oracle: int32 sums, MLAS's float32 multiplier, clamp, half to even, + zero point.
  const want = new Uint8Array(y.length), wz = l.wZero ?? 0;
  for (let o = 0; o < oc; o++) {
    const m = f(f(xs * ws[o]) / ys), g = Math.floor(o / (oc / group));
    for (let oy = 0; oy < size; oy++) {
      for (let ox = 0; ox < size; ox++) {
        let s = bias[o];
        for (let ci = 0; ci < cg; ci++) {
          for (let t = 0; t < 9; t++) {
            const iy = oy - 1 + Math.floor(t / 3), ix = ox - 1 + (t % 3);
            if (iy < 0 || iy >= size || ix < 0 || ix >= size) continue;
            s += (x[((g * cg + ci) * size + iy) * size + ix] - xz) *
              (w[(o * cg + ci) * 9 + t] - wz);
          }
        }
        let v = f(f(s) * m);
        v = v < -yz ? -yz : v > 255 - yz ? 255 - yz : v;
        want[(o * size + oy) * size + ox] = roundEven(v) + yz;
      }
    }
  }
  return { got: y, want };
}

const LAYERS: [string, Layer][] = [
  // K = 576: beyond one float convolution's bound, split below VNNI.
  ["deep int8 weights", { c: 64, oc: 13, size: 9, group: 1, wZero: null }],
  // uint8 weights at 131: never the 8-bit kernel; 576 · 252 · 131 beyond one float sum: split.
  ["uint8 weights at 131", { c: 64, oc: 7, size: 8, group: 1, wZero: 131 }],
  ["depthwise", { c: 24, oc: 24, size: 10, group: 24, wZero: null }],
  ["grouped", { c: 16, oc: 8, size: 7, group: 4, wZero: 140 }],
];

for (const isa of LEVELS) {
  Deno.test(`QLinearConv ${isa}: the 8-bit kernel and the exact float paths give MLAS's bytes`, () => {
    using jit = new Jit({ maxIsa: isa });
    LAYERS.forEach(([name, layer], i) => {
      const { got, want } = run(jit, layer, 7000 + i);
      for (let j = 0; j < want.length; j++) {
        if (got[j] !== want[j]) {
          assert.fail(`${isa} ${name}: y[${j}] ${got[j]}, want ${want[j]}`);
        }
      }
    });
    // The deep layer below VNNI runs two float convolutions (the split), above it one convInt8.
    const keys = jit.stats().keys.map((k) => k.key);
    assert.ok(keys.some((k) => k.startsWith("conv2d")), keys.join("\n"));
  });
}
