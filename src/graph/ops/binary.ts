/**
 * Broadcasting binary ONNX ops: float32 arithmetic through `jit.binary`
 * (Add, Sub, Mul, Div, Pow, Max, Min, and the variadic Sum/Max/Min as a
 * chain), comparisons and logic (bool out), Where, and every op on integer
 * types (shape arithmetic) by a TS loop.
 */
import type { BinaryOp } from "../../kernels/binary/mod.ts";
import { isBigIntType, NUMERIC_TYPES, type TensorData } from "../../onnx/dtype.ts";
import {
  broadcast,
  type Buf,
  expectType,
  fail,
  meta,
  nativeJit,
  need,
  type OpDef,
  stridesOf,
} from "./op.ts";
import type { Jit } from "../../runtime/jit.ts";

/** Strides of `dims` broadcast to `out` (0 along broadcast axes), right-aligned. */
export function broadcastStrides(dims: readonly number[], out: readonly number[]): number[] {
  const s = stridesOf(dims), r = out.length, off = r - dims.length, res: number[] = [];
  for (let i = 0; i < r; i++) {
    const j = i - off;
    res.push(j < 0 || dims[j] === 1 ? 0 : s[j]);
  }
  return res;
}

/**
 * A walk over every output element with each operand's offset by its
 * broadcast strides: strides and scratch made once (at build), so a run
 * allocates nothing.
 */
export class BroadcastWalk {
  readonly #out: readonly number[];
  readonly #strides: number[][];
  readonly #idx: Int32Array;
  /** The operands' offsets at the current element. */
  readonly off: Int32Array;
  readonly #total: number;

  /** Trailing dims merged into one block (each operand dense or fixed along them), and its length. */
  readonly #innerDims: number;
  readonly #block: number;
  /** Each operand's step along a block (0: broadcast, 1: dense, or its merged stride). */
  readonly step: Int32Array;

  constructor(out: readonly number[], operands: readonly (readonly number[])[]) {
    this.#out = out;
    this.#strides = operands.map((d) => broadcastStrides(d, out));
    this.#idx = new Int32Array(out.length);
    this.off = new Int32Array(operands.length);
    this.#total = out.reduce((p, d) => p * d, 1);
    // Merge trailing dims while every operand walks them as one axis (its stride at a dim is
    // its stride at the next times that dim's length): a block is then one strided run each.
    const r = out.length, strides = this.#strides;
    let inner = r > 0 ? 1 : 0, block = r > 0 ? out[r - 1] : 1;
    while (
      inner < r &&
      strides.every((st) => st[r - 1 - inner] === st[r - inner] * out[r - inner])
    ) {
      block *= out[r - 1 - inner];
      inner++;
    }
    this.#innerDims = inner;
    this.#block = block;
    this.step = Int32Array.from(strides, (st) => (r > 0 ? st[r - 1] : 0));
  }

  /**
   * Calls f(i, count) for each block of `count` output elements from i, with `off` set at
   * its first element and `step` each operand's step along it: the caller's loop over a block
   * runs without the odometer.
   */
  runBlocks(f: (i: number, count: number) => void): void {
    const outer = this.#out.length - this.#innerDims, block = this.#block;
    if (block === 0) return;
    this.#idx.fill(0);
    this.off.fill(0);
    for (let i = 0; i < this.#total; i += block) {
      f(i, block);
      this.#advance(outer);
    }
  }

  /** Calls f(i) for every output element i, with `off` set for it. */
  run(f: (i: number) => void): void {
    const r = this.#out.length;
    this.#idx.fill(0);
    this.off.fill(0);
    for (let i = 0; i < this.#total; i++) {
      f(i);
      this.#advance(r);
    }
  }

  /** The odometer: the next index over the first `dims` output dims, `off` moved with it. */
  #advance(dims: number): void {
    const out = this.#out, strides = this.#strides, idx = this.#idx, off = this.off;
    const m = off.length;
    for (let k = dims - 1; k >= 0; k--) {
      idx[k]++;
      for (let j = 0; j < m; j++) off[j] += strides[j][k];
      if (idx[k] < out[k]) return;
      for (let j = 0; j < m; j++) off[j] -= strides[j][k] * out[k];
      idx[k] = 0;
    }
  }
}

function arith(op: string, a: number, b: number, integer: boolean): number {
  switch (op) {
    case "Add":
    case "Sum":
      return a + b;
    case "Sub":
      return a - b;
    case "Mul":
      // Integers (32 bits and narrower: 64-bit ones run in BigInt) by their low 32 bits: a
      // 32-bit product past 2^53 loses them in a double (the store wraps them to the type).
      return integer ? Math.imul(a, b) : a * b;
    case "Div":
      return integer ? Math.trunc(a / b) : a / b;
    case "Pow":
      return a ** b;
    case "Max":
      return Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b);
    case "Min":
      return Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b);
    case "Mod":
      return flooredMod(a, b);
    case "Fmod":
      return a % b;
    case "Equal":
      return a === b ? 1 : 0;
    case "Less":
      return a < b ? 1 : 0;
    case "Greater":
      return a > b ? 1 : 0;
    case "LessOrEqual":
      return a <= b ? 1 : 0;
    case "GreaterOrEqual":
      return a >= b ? 1 : 0;
    case "And":
      return a && b ? 1 : 0;
    case "Or":
      return a || b ? 1 : 0;
    case "Xor":
      return (a ? 1 : 0) ^ (b ? 1 : 0);
  }
  throw new Error(`unreachable: ${op}`);
}

/**
 * Mod with fmod 0: the remainder with the divisor's sign (Python's and numpy's `%`), integers
 * and floats alike (ONNX's reference since floats may take fmod 0); fmod 1 is `%`, the
 * dividend's sign (C's fmod).
 */
function flooredMod(a: number, b: number): number {
  const r = a % b;
  if (r === 0) return b < 0 ? -0 : 0;
  return (r < 0) !== (b < 0) ? r + b : r;
}

function write(y: TensorData, i: number, v: number): void {
  if (y instanceof BigInt64Array || y instanceof BigUint64Array) {
    y[i] = BigInt(Number.isFinite(v) ? Math.trunc(v) : 0);
  } else (y as Float32Array)[i] = v;
}

/**
 * `arith` on int64 and uint64 values, exactly (doubles hold 53 bits: INT64_MAX, a shape
 * computation's "to the end", came back as INT64_MIN through them), wrapping as 64-bit
 * integers do when stored (uint64's below 0 to 2^64 − k); a division or remainder by zero
 * gives 0 (undefined in ONNX; never a throw). Pow stays in doubles.
 */
function arithInt64(op: string, a: bigint, b: bigint): bigint {
  switch (op) {
    case "Add":
    case "Sum":
      return a + b;
    case "Sub":
      return a - b;
    case "Mul":
      return a * b;
    case "Div":
      return b === 0n ? 0n : a / b;
    case "Max":
      return a > b ? a : b;
    case "Min":
      return a < b ? a : b;
    case "Mod": {
      if (b === 0n) return 0n;
      const r = a % b;
      return r !== 0n && (r < 0n) !== (b < 0n) ? r + b : r;
    }
    case "Fmod":
      return b === 0n ? 0n : a % b;
    case "Equal":
      return a === b ? 1n : 0n;
    case "Less":
      return a < b ? 1n : 0n;
    case "Greater":
      return a > b ? 1n : 0n;
    case "LessOrEqual":
      return a <= b ? 1n : 0n;
    case "GreaterOrEqual":
      return a >= b ? 1n : 0n;
  }
  throw new Error(`unreachable: ${op}`);
}

/** A TS step: y = fold(op, inputs) with broadcasting. */
function tsStep(op: string, ins: readonly Buf[], y: Buf): () => void {
  const integer = y.type !== "float32" && y.type !== "float64" && y.type !== "bool";
  const datas = ins.map((b) => b.data), walk = new BroadcastWalk(y.dims, ins.map((b) => b.dims));
  const off = walk.off, yd = y.data;
  if (op !== "Pow" && ins.every((b) => isBigIntType(b.type))) {
    // int64 and uint64 exactly, in BigInt: y of their type (stores wrap to 64 bits) or bool (a
    // comparison).
    const big = datas as BigInt64Array[], flag = y.type === "bool" ? yd as Uint8Array : null;
    const yb = yd as BigInt64Array;
    const each = (i: number) => {
      let v = big[0][off[0]];
      for (let j = 1; j < big.length; j++) v = arithInt64(op, v, big[j][off[j]]);
      if (flag !== null) flag[i] = v === 0n ? 0 : 1;
      else yb[i] = v;
    };
    return () => walk.run(each);
  }
  if (datas.length === 2) {
    // Two operands (comparisons, logic, integer arithmetic): a block at a time, each a
    // strided run, no odometer per element.
    const [a, b] = datas, step = walk.step;
    const block = (i: number, count: number) => {
      let ai = off[0], bi = off[1];
      const as = step[0], bs = step[1];
      for (let k = i, end = i + count; k < end; k++, ai += as, bi += bs) {
        write(yd, k, arith(op, Number(a[ai]), Number(b[bi]), integer));
      }
    };
    return () => walk.runBlocks(block);
  }
  const each = (i: number) => {
    let v = Number(datas[0][off[0]]);
    for (let j = 1; j < datas.length; j++) v = arith(op, v, Number(datas[j][off[j]]), integer);
    write(yd, i, v);
  };
  return () => walk.run(each);
}

/** ONNX op → the binary family's op (the chain fusion reads it too). */
export const JIT_OPS: Readonly<Record<string, BinaryOp>> = {
  Add: "add",
  Sum: "add",
  Sub: "sub",
  Mul: "mul",
  Div: "div",
  Pow: "pow",
  Max: "max",
  Min: "min",
};

function arithmeticDef(op: string, variadic: boolean): OpDef {
  return {
    attributes: [],
    infer(n, ins) {
      const xs = need(n, ins, variadic ? 1 : 2, variadic ? 64 : 2);
      let dims = xs[0].dims;
      for (let i = 0; i < xs.length; i++) {
        expectType(n, xs[i], i, ...NUMERIC_TYPES);
        // Pow's exponent may differ in type; every other op takes one type.
        if (op !== "Pow" && xs[i].type !== xs[0].type) {
          fail(n, `input ${i} is ${xs[i].type}, input 0 is ${xs[0].type}`);
        }
        dims = broadcast(n, dims, xs[i].dims);
      }
      return [meta(xs[0].type, dims)];
    },
    // `jit.binary` (float32) into input 0's storage: the planner checks it is y's whole shape.
    inPlace: (_n, ins) => JIT_OPS[op] !== undefined && ins.every((m) => m?.type === "float32"),
    build(_n, ins, outs, env) {
      const xs = ins as Buf[], y = outs[0];
      const jitOp = JIT_OPS[op];
      const allF32 = xs.every((b) => b.type === "float32");
      // Mod's fmod 1: the truncated remainder (C's fmod), for integers too.
      const tsOp = op === "Mod" && _n.attrs.int("fmod", 0) !== 0 ? "Fmod" : op;
      if (!allF32 || !jitOp || y.dims.length > 6) {
        return { native: false, run: tsStep(tsOp, xs, y) };
      }
      const jit = env.jit, yd = y.data as Float32Array;
      if (xs.length === 1) {
        const x = xs[0].data as Float32Array;
        return { native: false, run: () => yd.set(x) };
      }
      const a = xs[0].data as Float32Array, b = xs[1].data as Float32Array;
      const ad = xs[0].dims, bd = xs[1].dims, yDims = y.dims;
      // The first pair writes y whole: with a later input widening the shape, the loop instead.
      const pair = broadcast(_n, ad, bd);
      if (pair.length !== yDims.length || pair.some((d, i) => d !== yDims[i])) {
        return { native: false, run: tsStep(op, xs, y) };
      }
      if (xs.length === 2) return { native: true, run: () => jit.binary(jitOp, a, ad, b, bd, yd) };
      const rest = xs.slice(2);
      return {
        native: true,
        run: () => {
          jit.binary(jitOp, a, ad, b, bd, yd);
          for (const r of rest) jit.binary(jitOp, yd, yDims, r.data as Float32Array, r.dims, yd);
        },
      };
    },
  };
}

function compareDef(op: string, logic: boolean): OpDef {
  return {
    attributes: [],
    infer(n, ins) {
      const [a, b] = need(n, ins, 2);
      if (logic) {
        expectType(n, a, 0, "bool");
        expectType(n, b, 1, "bool");
      } else if (a.type !== b.type) fail(n, `inputs are ${a.type} and ${b.type}`);
      return [meta("bool", broadcast(n, a.dims, b.dims))];
    },
    build(_n, ins, outs) {
      return { native: false, run: tsStep(op, ins as Buf[], outs[0]) };
    },
  };
}

const NOT: OpDef = {
  attributes: [],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, "bool");
    return [meta("bool", x.dims)];
  },
  build(_n, ins, outs) {
    const x = ins[0]!.data as Uint8Array, y = outs[0].data as Uint8Array;
    return {
      native: false,
      run: () => {
        for (let i = 0; i < x.length; i++) y[i] = x[i] ? 0 : 1;
      },
    };
  },
};

/** 32-bit element types a select moves as bits. */
const WORD_TYPES = new Set(["Float32Array", "Int32Array", "Uint32Array"]);
/** Least elements, and most blocks, of a Where the Jit's select takes. */
const SELECT_MIN_ELEMENTS = 1024, SELECT_MAX_BLOCKS = 4096;

/**
 * Where as the Jit's select calls, one per broadcast block, where the elements are 32 bits,
 * the mask runs along every block and x and y each run along it or hold one value for it (a
 * causal mask over attention scores, a value for the rest): the calls, their views made once.
 * Else null (TypeScript blocks).
 */
function selectCalls(
  walk: BroadcastWalk,
  mask: Uint8Array,
  x: TensorData,
  y: TensorData,
  out: Float32Array,
  jit: Jit,
): (() => void) | null {
  const kind = (t: TensorData) => t.constructor.name;
  if (!WORD_TYPES.has(kind(x)) || kind(x) !== kind(y) || kind(out) !== kind(x)) return null;
  if (out.length < SELECT_MIN_ELEMENTS) return null;
  const words = (t: TensorData) => new Float32Array(t.buffer, t.byteOffset, t.length);
  const xf = words(x), yf = words(y), of = words(out);
  const calls: [Uint8Array, Float32Array, Float32Array, Float32Array][] = [];
  let fits = true;
  walk.runBlocks((i, count) => {
    const [co, xo, yo] = walk.off, [cs, xs, ys] = walk.step;
    if (!fits || cs !== 1 || xs > 1 || ys > 1 || calls.length >= SELECT_MAX_BLOCKS) {
      fits = false;
      return;
    }
    calls.push([
      mask.subarray(co, co + count),
      xf.subarray(xo, xo + (xs ? count : 1)),
      yf.subarray(yo, yo + (ys ? count : 1)),
      of.subarray(i, i + count),
    ]);
  });
  if (!fits) return null;
  return () => {
    for (const [m, a, b, o] of calls) jit.select(m, a, b, o);
  };
}

const WHERE: OpDef = {
  attributes: [],
  infer(n, ins) {
    const [c, x, y] = need(n, ins, 3);
    expectType(n, c, 0, "bool");
    if (x.type !== y.type) fail(n, `X is ${x.type} and Y is ${y.type}`);
    return [meta(x.type, broadcast(n, broadcast(n, c.dims, x.dims), y.dims))];
  },
  build(_n, ins, outs, env) {
    const [c, x, y] = ins as Buf[], out = outs[0];
    const cd = c.data as Uint8Array, xd = x.data as Float32Array, yd = y.data as Float32Array;
    const od = out.data as Float32Array;
    const walk = new BroadcastWalk(out.dims, [c.dims, x.dims, y.dims]);
    const jit = nativeJit(env);
    const native = jit ? selectCalls(walk, cd, x.data, y.data, od, jit) : null;
    if (native) return { native: true, run: native };
    const off = walk.off, step = walk.step;
    // A block at a time, each operand a strided run (a causal mask [1, 1, S, S] over the
    // scores [B, H, S, S] and a scalar: blocks of S·S; bench/where.ts: 3.3 → 0.63 ms with its Softmax).
    const block = (i: number, count: number) => {
      let ci = off[0], xi = off[1], yi = off[2];
      const cs = step[0], xs = step[1], ys = step[2], end = i + count;
      if (cs === 1 && xs === 1 && ys === 0) {
        // A mask over x, one value elsewhere (attention's causal mask): two dense runs.
        const other = yd[yi];
        for (let k = i; k < end; k++, ci++, xi++) od[k] = cd[ci] ? xd[xi] : other;
        return;
      }
      for (let k = i; k < end; k++, ci += cs, xi += xs, yi += ys) {
        od[k] = cd[ci] ? xd[xi] : yd[yi];
      }
    };
    return { native: false, run: () => walk.runBlocks(block) };
  },
};

/** Mean (variadic, float32): Sum's steps, then the division by the count. */
const SUM = arithmeticDef("Sum", true);
const MEAN: OpDef = {
  attributes: [],
  infer(n, ins) {
    const [x] = need(n, ins, 1, 64);
    expectType(n, x, 0, "float32");
    return SUM.infer(n, ins);
  },
  build(n, ins, outs, env) {
    const sum = SUM.build(n, ins, outs, env)!, y = outs[0], yd = y.data as Float32Array;
    const count = Float32Array.of(ins.length), dims = y.dims, jit = env.jit;
    return {
      native: sum.native,
      run: () => {
        sum.run();
        jit.binary("div", yd, dims, count, [1], yd);
      },
    };
  },
};

/** The binary, comparison and logic op definitions by ONNX name. */
export const BINARY_OPS: Record<string, OpDef> = {
  Mean: MEAN,
  Add: arithmeticDef("Add", false),
  Sub: arithmeticDef("Sub", false),
  Mul: arithmeticDef("Mul", false),
  Div: arithmeticDef("Div", false),
  Pow: arithmeticDef("Pow", false),
  Mod: { ...arithmeticDef("Mod", false), attributes: ["fmod"] },
  Max: arithmeticDef("Max", true),
  Min: arithmeticDef("Min", true),
  Sum: arithmeticDef("Sum", true),
  Equal: compareDef("Equal", false),
  Less: compareDef("Less", false),
  Greater: compareDef("Greater", false),
  LessOrEqual: compareDef("LessOrEqual", false),
  GreaterOrEqual: compareDef("GreaterOrEqual", false),
  And: compareDef("And", true),
  Or: compareDef("Or", true),
  Xor: compareDef("Xor", true),
  Not: NOT,
  Where: WHERE,
};
