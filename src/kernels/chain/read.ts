/**
 * Reading a `jit.chain` call: x and y lengths through the intrinsic getter
 * (y may be x), 1..8 steps, each an activation (a unary op's name, or
 * `{ op, ...params }`) or a binary step `{ op, value }` / `{ op, x: true }`
 * (`left: true` puts the other operand first); the key written without
 * allocating.
 *
 * @module
 */
import { describe, viewLength } from "../../typed.ts";
import { f32Bits, fromF32Bits } from "../key.ts";
import { UNARY_IDS, UNARY_OPS, type UnaryOp } from "../unary/ops.ts";
import { type Activation, decodeActivation, readActivation } from "../unary/read.ts";
import { BINARY_OPS, type BinaryOp } from "../binary/spec.ts";
import { binaryCode, type ChainSpec, type ChainStepSpec, MAX_CHAIN_STEPS } from "./spec.ts";

/** One step of a chain: a unary op (as a GEMM activation is written), or a binary op. */
export type ChainStep =
  | Activation
  | {
    /** The binary op. */
    op: BinaryOp;
    /** The other operand: this constant (rounded to f32)... */
    value?: number;
    /** ...or the chain's input x itself (x · sigmoid(x): `{ op: "mul", x: true }`). */
    x?: boolean;
    /** The other operand first (`value − y`, `x / y`). Default false. */
    left?: boolean;
  };

/** Names of the chain key slots after the family slot. */
export const CHAIN_KEY_FIELDS: readonly string[] = [
  "n",
  "steps",
  ...Array.from({ length: MAX_CHAIN_STEPS }, (_, i) => [`op${i}`, `a${i}`, `b${i}`]).flat(),
];

/** Most elements of one call (the count is an int32 key slot). */
export const MAX_CHAIN_ELEMENTS = 2 ** 31 - 1;

const BINARY_IDS = new Map<string, number>(BINARY_OPS.map((o, i) => [o, i]));

function badSteps(steps: unknown): never {
  throw new TypeError(
    `chain: steps must be an array of 1 to ${MAX_CHAIN_STEPS} steps, got ${describe(steps)}`,
  );
}

function badStep(i: number, step: unknown, why: string): never {
  throw new TypeError(`chain: steps[${i}] ${why}, got ${describe(step)}`);
}

/** Writes binary step `i` (`step.op` is a binary op) at key[slot..slot+2]. */
function readBinaryStep(i: number, step: object, id: number, key: Int32Array, slot: number): void {
  const s = step as { value?: unknown; x?: unknown; left?: unknown };
  const value = s.value, x = s.x, left = s.left;
  if (left !== undefined && typeof left !== "boolean") badStep(i, step, "left must be a boolean");
  if (x !== undefined && x !== true && x !== false) badStep(i, step, "x must be a boolean");
  const againstX = x === true;
  if (againstX === (value !== undefined)) {
    badStep(i, step, "a binary step needs exactly one other operand: value (a number) or x: true");
  }
  if (!againstX && typeof value !== "number") badStep(i, step, "value must be a number");
  key[slot] = binaryCode(id, againstX, left === true);
  key[slot + 1] = againstX ? 0 : f32Bits(value as number);
  key[slot + 2] = 0;
}

/** `who` of each step's errors, made once (a string built per call would allocate). */
const WHO = Array.from({ length: MAX_CHAIN_STEPS }, (_, i) => `chain: steps[${i}]`);

/**
 * Steps checked and encoded once, for calls in a loop: reading an array of
 * step objects of different shapes on every call costs a few loads that V8
 * cannot keep monomorphic (and may box their numbers); a `ChainSteps` is
 * copied as integers. Immutable: later changes to the array it was made from
 * do not reach it.
 *
 * @example
 * ```ts
 * import { ChainSteps, Jit } from "@njit/core";
 * using jit = new Jit();
 * const silu = new ChainSteps(["sigmoid", { op: "mul", x: true }]);
 * const x = new Float32Array(1024), y = new Float32Array(1024);
 * for (let i = 0; i < 100; i++) jit.chain(x, y, silu);
 * ```
 */
export class ChainSteps {
  /** Key slots 2..26: the step count, then (code, a, b) per step. */
  readonly #slots: Int32Array;
  /** Checks and encodes `steps` (the errors of `jit.chain`). */
  constructor(steps: readonly ChainStep[]) {
    const key = new Int32Array(3 + 3 * MAX_CHAIN_STEPS);
    readSteps(steps, key);
    this.#slots = key.slice(2);
  }
  /** Steps in the chain. */
  get length(): number {
    return this.#slots[0];
  }
  /** Whether `x` is a ChainSteps (a brand check: a lookalike object is not). */
  static is(x: unknown): x is ChainSteps {
    return typeof x === "object" && x !== null && #slots in x;
  }
  /** Writes the encoded steps into key slots 2.. */
  static copyInto(c: ChainSteps, key: Int32Array): void {
    key.set(c.#slots, 2);
  }
}

/** Checks `steps` and writes key[2] (the count) and slots 3.. (three per step). */
function readSteps(steps: readonly ChainStep[], key: Int32Array): void {
  if (!Array.isArray(steps)) badSteps(steps);
  const count = steps.length;
  if (count < 1 || count > MAX_CHAIN_STEPS) badSteps(steps);
  key[2] = count;
  for (let i = 0; i < MAX_CHAIN_STEPS; i++) {
    const slot = 3 + 3 * i;
    if (i >= count) {
      key[slot] = key[slot + 1] = key[slot + 2] = 0;
      continue;
    }
    const step = steps[i];
    const op = typeof step === "string" ? step : (step as { op?: unknown } | null)?.op;
    const b = typeof op === "string" ? BINARY_IDS.get(op) : undefined;
    if (b !== undefined && typeof step === "object" && step !== null) {
      readBinaryStep(i, step, b, key, slot);
    } else if (typeof op === "string" && UNARY_IDS.has(op as UnaryOp)) {
      readActivation(WHO[i], step, key, slot);
    } else {
      badStep(
        i,
        step,
        `must name a unary op (${UNARY_OPS.map((o) => o.name).join(", ")}) or be ` +
          `{ op: ${BINARY_OPS.join(" | ")}, value | x: true }`,
      );
    }
  }
}

/**
 * Checks a chain call (x and y are known Float32Arrays) and writes its key
 * (slots 1..26) and the bytes x and y touch.
 */
export function readChain(
  x: Float32Array,
  y: Float32Array,
  steps: readonly ChainStep[] | ChainSteps,
  key: Int32Array,
  extents: Float64Array,
): void {
  const n = viewLength(x), ny = viewLength(y);
  if (ny !== n) {
    throw new RangeError(
      `chain: y has ${ny} elements but x has ${n}; y must have exactly as many (or be x)`,
    );
  }
  if (n > MAX_CHAIN_ELEMENTS) {
    throw new RangeError(`chain: x has ${n} elements; at most ${MAX_CHAIN_ELEMENTS} per call`);
  }
  key[1] = n;
  if (ChainSteps.is(steps)) ChainSteps.copyInto(steps, key);
  else readSteps(steps, key);
  extents[0] = 4 * n;
  extents[1] = 4 * n;
}

/** The spec a key describes. */
export function decodeChainKey(key: Int32Array): ChainSpec {
  const steps: ChainStepSpec[] = [];
  for (let i = 0; i < key[2]; i++) {
    const slot = 3 + 3 * i, code = key[slot];
    if (code < 64) {
      const act = decodeActivation(key, slot)!;
      steps.push({ kind: "unary", op: act.op, params: act.params });
    } else {
      const c = code - 64;
      steps.push({
        kind: "binary",
        op: BINARY_OPS[c >> 2],
        operand: c & 2 ? "x" : "value",
        value: c & 2 ? 0 : fromF32Bits(key[slot + 1]),
        left: (c & 1) === 1,
      });
    }
  }
  return { n: key[1], steps };
}
