/**
 * The op contract of the graph layer: an op infers its outputs' types and
 * shapes (and values, where they follow from shapes or constants) and builds
 * a step that computes them from buffers, calling the Jit's op families
 * where the work is numeric.
 */
import type { LargeMemory } from "../../native/large_memory.ts";
import type { Jit } from "../../runtime/jit.ts";
import type { DType, TensorData } from "../../onnx/dtype.ts";
import { ModelError } from "../../onnx/wire.ts";
import { MAX_TENSOR_ELEMENTS } from "../../onnx/tensor_data.ts";
import { describeNode, type Node } from "../ir.ts";
import type { WeightCache } from "../weights.ts";

/** A value as the planner knows it: type, concrete dims, and data when known before running. */
export interface Meta {
  type: DType;
  dims: number[];
  /** The value, when it is a constant or follows from shapes (then the op is folded). */
  data: TensorData | null;
}

/** A value with its buffer, for building steps. */
export interface Buf {
  type: DType;
  dims: number[];
  data: TensorData;
  /** A constant of the graph (weights): may be packed once. */
  constant: boolean;
}

/**
 * Output `i`'s data where the node asks for it, else undefined: an optional
 * output the node leaves unnamed (ONNX's "", as exporters write `Y_h` of an
 * LSTM alone) comes from the plan as an empty buffer, one past the node's
 * outputs not at all, and neither is written (an empty tensor has nothing
 * to write either).
 */
export function askedOutput<T extends TensorData = Float32Array>(
  outs: readonly Buf[],
  i: number,
): T | undefined {
  const o = outs[i];
  return o !== undefined && o.data.length > 0 ? o.data as T : undefined;
}

/** What a step may use. */
export interface Env {
  jit: Jit;
  weights: WeightCache;
  /** The session's large memory (weights, arenas: native/large_memory.ts), or null without native code. */
  memory: LargeMemory | null;
}

/**
 * The refusal of a classifier's string labels that another node reads: they come out only as
 * a string graph output (graph/load.ts turns them into indexes there), or unread.
 */
export const STRING_LABELS =
  "string class labels (classlabels_strings) run as a string graph output or unread; a node reading them is not supported";

/**
 * The session's Jit where native code runs (its large memory is there), else null: for ops
 * whose TypeScript step beats the families' TypeScript references where no machine code runs
 * (a tree walk, an SVM's kernels, a Where).
 */
export function nativeJit(env: Env): Jit | null {
  return env.memory !== null ? env.jit : null;
}

/** One unit of a plan: `native` steps only call Jit op families (so they can run off the event loop). */
export interface Step {
  run: () => void;
  native: boolean;
  /**
   * A host step whose JavaScript all comes first (reading this run's values:
   * a mask into a bias, scales into options): `prepare`, then `calls`
   * (Jit calls only) do what `run` does. Off the event loop, `prepare` runs
   * on the calling thread and `calls` with the native steps after it, so
   * the step's arithmetic does not block the loop. `calls` must make the
   * same calls with the same arguments on every run (they are recorded
   * once, then replayed): `prepare` may change only the memory they read.
   */
  split?: { prepare: () => void; calls: () => void };
}

/** A host step made of `prepare` (JavaScript) then `calls` (Jit calls only): see `Step.split`. */
export function splitStep(prepare: () => void, calls: () => void): Step {
  return {
    native: false,
    run: () => {
      prepare();
      calls();
    },
    split: { prepare, calls },
  };
}

/**
 * A step whose Jit options come from scalar inputs (scales, zero points):
 * `settle` reads them now, and again before each run unless every one is a
 * constant — then the step only calls the Jit (native, where `call` is).
 */
export function settledStep(
  inputs: readonly (Buf | null)[],
  settle: () => void,
  call: () => void,
  callNative = true,
): Step {
  settle();
  if (inputs.every((b) => b === null || b.constant)) return { native: callNative, run: call };
  // Not a split step: settle changes the calls' options, and a run off the loop replays
  // the calls as recorded.
  return {
    native: false,
    run: () => {
      settle();
      call();
    },
  };
}

/** An op of the default ONNX domain (or our own fused ops). */
export interface OpDef {
  /** Attributes the op accepts; any other is an error at load. */
  attributes: readonly string[];
  /** Output metas from the inputs' (null: an omitted optional input). */
  infer(n: Node, ins: readonly (Meta | null)[]): Meta[];
  /** Output 0 is input 0's data under new dims (Reshape and friends): no step. */
  alias?: boolean;
  /**
   * Where each input lies in output 0, in elements, when every input is one
   * contiguous block of it (Concat on an axis with only 1s before it), else
   * null: the planner may then have the inputs' producers write there.
   */
  slices?(n: Node, out: Meta, ins: readonly Meta[]): number[] | null;
  /**
   * Where each output lies in input 0, in elements, when every output is
   * one contiguous block of it (Split on an axis with only 1s before it),
   * else null: the planner then makes the outputs views of the input, and
   * the op runs no step.
   */
  views?(n: Node, x: Meta, outs: readonly Meta[]): number[] | null;
  /**
   * Whether output 0 may take input 0's storage when nothing reads input 0
   * after this node (the planner decides that): the step reads each element
   * of input 0 before it writes that element of output 0 and nothing after.
   */
  inPlace?(n: Node, ins: readonly (Meta | null)[]): boolean;
  /** The step computing outputs from inputs (null: nothing to do). */
  build(n: Node, ins: readonly (Buf | null)[], outs: readonly Buf[], env: Env): Step | null;
  /**
   * An op whose output shapes depend on its input's values (NonZero): computes its outputs
   * when a run has them. The plan stops before such a node whose inputs are not known when
   * it is made, and plans the rest of the graph per run's output shapes (plan.ts).
   */
  dynamic?(
    n: Node,
    ins: readonly (Buf | null)[],
  ): { type: DType; dims: number[]; data: TensorData }[];
  /** The plan replaces the node by others (sequence ops): never folded or run itself. */
  expands?: boolean;
  /** Draws new values on every run (random ops): never folded, even from known inputs. */
  random?: boolean;
  /**
   * At create: pack the node's constant weights (inputs given when constant,
   * else null; `shapes`: each input's meta where its shape is known at
   * create, static_shapes.ts, else null).
   */
  prepack?(
    n: Node,
    consts: readonly (Meta | null)[],
    env: Env,
    shapes: readonly (Meta | null)[],
  ): void;
}

/** A ModelError about a node. */
export function fail(n: Node, msg: string): never {
  throw new ModelError(`ONNX: ${describeNode(n)}: ${msg}`);
}

/** The input metas, checking the count and that required ones are present. */
export function need(n: Node, ins: readonly (Meta | null)[], min: number, max = min): Meta[] {
  if (ins.length < min || ins.length > max) {
    fail(n, `has ${ins.length} inputs, expected ${min === max ? min : `${min}-${max}`}`);
  }
  for (let i = 0; i < min; i++) if (ins[i] === null) fail(n, `input ${i} is required`);
  return ins as Meta[];
}

/** Checks an input's type. */
export function expectType(n: Node, m: Meta, i: number, ...types: DType[]): void {
  if (!types.includes(m.type)) fail(n, `input ${i} is ${m.type}, expected ${types.join(" or ")}`);
}

/** Element count of dims. */
export function sizeOf(dims: readonly number[]): number {
  let s = 1;
  for (const d of dims) s *= d;
  return s;
}

/** Elements of `dims`, or an error naming the node when one array cannot hold them. */
export function checkedSize(n: Node, dims: readonly number[]): number {
  const size = sizeOf(dims);
  if (!(size <= MAX_TENSOR_ELEMENTS)) {
    fail(n, `an output of [${dims.join(", ")}]: ${size} elements exceed ${MAX_TENSOR_ELEMENTS}`);
  }
  return size;
}

/** A known input's values as integers (int64 or int32 data), or an error naming the input. */
export function knownInts(n: Node, m: Meta | null, what: string): number[] {
  if (m === null) fail(n, `${what} is required`);
  if (m.data === null) {
    fail(
      n,
      `${what} must be a constant or computed from shapes (data-dependent shapes are not supported)`,
    );
  }
  const out: number[] = [];
  for (let i = 0; i < m.data.length; i++) {
    const v = Number(m.data[i]);
    if (!Number.isSafeInteger(v)) fail(n, `${what}[${i}] is ${v}, expected an integer`);
    out.push(v);
  }
  return out;
}

/** A known input's values as numbers. */
export function knownNumbers(n: Node, m: Meta | null, what: string): number[] {
  if (m === null) fail(n, `${what} is required`);
  if (m.data === null) {
    fail(
      n,
      `${what} must be a constant or computed from shapes (data-dependent shapes are not supported)`,
    );
  }
  return Array.from(m.data as ArrayLike<number | bigint>, (v) => Number(v));
}

/** Normalizes a possibly negative axis against rank r. */
export function axisOf(n: Node, axis: number, r: number, what = "axis"): number {
  if (axis < -r || axis >= r) fail(n, `${what} ${axis} out of range for rank ${r}`);
  return axis < 0 ? axis + r : axis;
}

/** Numpy broadcast of two shapes, or an error. */
export function broadcast(n: Node, a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length), out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1, y = b[b.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) {
      fail(n, `shapes [${a.join(", ")}] and [${b.join(", ")}] do not broadcast`);
    }
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Row-major strides of dims. */
export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

/** Meta of a value not known before running. */
export function meta(type: DType, dims: number[]): Meta {
  return { type, dims, data: null };
}
