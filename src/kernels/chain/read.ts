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

/**
 * Checks a chain call (x and y are known Float32Arrays) and writes its key
 * (slots 1..26) and the bytes x and y touch.
 */
export function readChain(
  x: Float32Array,
  y: Float32Array,
  steps: readonly ChainStep[],
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
  if (!Array.isArray(steps)) badSteps(steps);
  const count = steps.length;
  if (count < 1 || count > MAX_CHAIN_STEPS) badSteps(steps);
  key[1] = n;
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
      readActivation(`chain: steps[${i}]`, step, key, slot);
    } else {
      badStep(
        i,
        step,
        `must name a unary op (${UNARY_OPS.map((o) => o.name).join(", ")}) or be ` +
          `{ op: ${BINARY_OPS.join(" | ")}, value | x: true }`,
      );
    }
  }
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
