/**
 * Reading a `jit.unary` call: the op by name, x and y lengths through the
 * intrinsic getter (y must match x; y may be x), the op's parameters
 * (rounded to f32) with ONNX defaults; the key written without allocating.
 *
 * @module
 */
import { describe, viewLength } from "../../typed.ts";
import { f32Bits, fromF32Bits } from "../key.ts";
import { UNARY_IDS, UNARY_OPS, type UnaryOp, type UnaryParams } from "./ops.ts";
import type { UnarySpec } from "./spec.ts";

/** Names of the unary key slots after the family slot. */
export const UNARY_KEY_FIELDS = ["op", "n", "p0", "p1"] as const;

function badOp(who: string, what: string, op: unknown): never {
  const names = UNARY_OPS.map((o) => o.name).join(", ");
  if (typeof op !== "string") {
    throw new TypeError(
      `${who}: ${what} must be a string naming the op (${names}), got ${describe(op)}`,
    );
  }
  throw new RangeError(`${who}: unknown ${what} "${op}"; expected one of ${names}`);
}

function badParams(p: unknown): never {
  throw new TypeError(`unary: params must be an object or undefined, got ${describe(p)}`);
}

function badParam(
  who: string,
  op: string,
  name: string,
  v: unknown,
  takes: readonly string[],
): never {
  if (!takes.includes(name)) {
    const what = takes.length ? `takes only ${takes.join(" and ")}` : "takes no parameters";
    throw new TypeError(`${who}: ${op} ${what}, got ${name} = ${describe(v)}`);
  }
  throw new TypeError(`${who}: ${op} ${name} must be a number, got ${describe(v)}`);
}

/** Writes op `id`'s parameters (defaults, then those `params` names) as f32 bits at key[slot], key[slot + 1]. */
function readParams(
  who: string,
  id: number,
  params: UnaryParams | undefined,
  key: Int32Array,
  slot: number,
): void {
  const def = UNARY_OPS[id];
  key[slot] = def.params.length > 0 ? f32Bits(def.defaults[0]) : 0;
  key[slot + 1] = def.params.length > 1 ? f32Bits(def.defaults[1]) : 0;
  if (params === undefined) return;
  // Named loads and inline conversions: a double passed through a keyed
  // load or into a call that is not inlined is boxed (16 bytes a call).
  const alpha = params.alpha, beta = params.beta, gamma = params.gamma;
  const min = params.min, max = params.max;
  if (alpha !== undefined) {
    const at = def.params.indexOf("alpha");
    if (at < 0 || typeof alpha !== "number") badParam(who, def.name, "alpha", alpha, def.params);
    BITS_F32[0] = alpha;
    key[slot + at] = BITS_I32[0];
  }
  if (beta !== undefined) {
    const at = def.params.indexOf("beta");
    if (at < 0 || typeof beta !== "number") badParam(who, def.name, "beta", beta, def.params);
    BITS_F32[0] = beta;
    key[slot + at] = BITS_I32[0];
  }
  if (gamma !== undefined) {
    const at = def.params.indexOf("gamma");
    if (at < 0 || typeof gamma !== "number") badParam(who, def.name, "gamma", gamma, def.params);
    BITS_F32[0] = gamma;
    key[slot + at] = BITS_I32[0];
  }
  if (min !== undefined) {
    const at = def.params.indexOf("min");
    if (at < 0 || typeof min !== "number") badParam(who, def.name, "min", min, def.params);
    BITS_F32[0] = min;
    key[slot + at] = BITS_I32[0];
  }
  if (max !== undefined) {
    const at = def.params.indexOf("max");
    if (at < 0 || typeof max !== "number") badParam(who, def.name, "max", max, def.params);
    BITS_F32[0] = max;
    key[slot + at] = BITS_I32[0];
  }
}

/**
 * The same for GEMM activations: a copy on purpose, so that unary calls and
 * activation objects (of other shapes) keep separate inline caches. Sharing
 * one made unary's property loads polymorphic, and a polymorphic load of a
 * double field boxes it: 16 bytes a call (measured by the allocation test).
 */
function readActivationParams(
  who: string,
  id: number,
  params: UnaryParams | undefined,
  key: Int32Array,
  slot: number,
): void {
  const def = UNARY_OPS[id];
  key[slot] = def.params.length > 0 ? f32Bits(def.defaults[0]) : 0;
  key[slot + 1] = def.params.length > 1 ? f32Bits(def.defaults[1]) : 0;
  if (params === undefined) return;
  // Named loads and inline conversions: a double passed through a keyed
  // load or into a call that is not inlined is boxed (16 bytes a call).
  const alpha = params.alpha, beta = params.beta, gamma = params.gamma;
  const min = params.min, max = params.max;
  if (alpha !== undefined) {
    const at = def.params.indexOf("alpha");
    if (at < 0 || typeof alpha !== "number") badParam(who, def.name, "alpha", alpha, def.params);
    BITS_F32[0] = alpha;
    key[slot + at] = BITS_I32[0];
  }
  if (beta !== undefined) {
    const at = def.params.indexOf("beta");
    if (at < 0 || typeof beta !== "number") badParam(who, def.name, "beta", beta, def.params);
    BITS_F32[0] = beta;
    key[slot + at] = BITS_I32[0];
  }
  if (gamma !== undefined) {
    const at = def.params.indexOf("gamma");
    if (at < 0 || typeof gamma !== "number") badParam(who, def.name, "gamma", gamma, def.params);
    BITS_F32[0] = gamma;
    key[slot + at] = BITS_I32[0];
  }
  if (min !== undefined) {
    const at = def.params.indexOf("min");
    if (at < 0 || typeof min !== "number") badParam(who, def.name, "min", min, def.params);
    BITS_F32[0] = min;
    key[slot + at] = BITS_I32[0];
  }
  if (max !== undefined) {
    const at = def.params.indexOf("max");
    if (at < 0 || typeof max !== "number") badParam(who, def.name, "max", max, def.params);
    BITS_F32[0] = max;
    key[slot + at] = BITS_I32[0];
  }
}

const BITS_F32 = new Float32Array(1);
const BITS_I32 = new Int32Array(BITS_F32.buffer);

/** An activation: a unary op's name, or an object with `op` and the op's parameters. */
export type Activation = UnaryOp | ({ op: UnaryOp } & UnaryParams);

/**
 * Reads an activation into key[slot] (the op's id + 1; 0 for none) and its
 * parameters into the next two slots. `who` names the caller in errors.
 */
export function readActivation(who: string, act: unknown, key: Int32Array, slot: number): void {
  if (act === undefined) {
    key[slot] = key[slot + 1] = key[slot + 2] = 0;
    return;
  }
  if (typeof act === "string") {
    const id = UNARY_IDS.get(act);
    if (id === undefined) badOp(who, "activation", act);
    key[slot] = id + 1;
    return readActivationParams(who, id, undefined, key, slot + 1);
  }
  if (act === null || typeof act !== "object") {
    throw new TypeError(
      `${who}: activation must be an op name or an object { op, ...params }, got ${describe(act)}`,
    );
  }
  const op = (act as { op: unknown }).op;
  const id = UNARY_IDS.get(op as string);
  if (id === undefined) badOp(who, "activation op", op);
  key[slot] = id + 1;
  readActivationParams(who, id, act as UnaryParams, key, slot + 1);
}

/** The activation a key holds (null for none). */
export function decodeActivation(
  key: Int32Array,
  slot: number,
): { op: number; params: number[] } | null {
  if (key[slot] === 0) return null;
  const op = key[slot] - 1;
  return { op, params: UNARY_OPS[op].params.map((_, i) => fromF32Bits(key[slot + 1 + i])) };
}

/** Most elements of one call (the count is an int32 key slot). */
export const MAX_UNARY_ELEMENTS = 2 ** 31 - 1;

function tooLong(n: number): never {
  throw new RangeError(`unary: x has ${n} elements; at most ${MAX_UNARY_ELEMENTS} per call`);
}

function badLength(ny: number, nx: number): never {
  throw new RangeError(
    `unary: y has ${ny} elements but x has ${nx}; y must have exactly as many (or be x)`,
  );
}

/**
 * Checks a unary call (x and y are known Float32Arrays) and writes its key
 * (slots 1..4) and the bytes x and y touch.
 */
export function readUnary(
  op: string,
  x: Float32Array,
  y: Float32Array,
  params: UnaryParams | undefined,
  key: Int32Array,
  extents: Float64Array,
): void {
  const id = UNARY_IDS.get(op);
  if (id === undefined) badOp("unary", "op", op);
  const n = viewLength(x), ny = viewLength(y);
  if (ny !== n) badLength(ny, n);
  if (n > MAX_UNARY_ELEMENTS) tooLong(n);
  if (params !== undefined && (params === null || typeof params !== "object")) badParams(params);
  key[1] = id;
  key[2] = n;
  readParams("unary", id, params, key, 3);
  extents[0] = 4 * n;
  extents[1] = 4 * n;
}

/** The spec a key describes. */
export function decodeUnaryKey(key: Int32Array): UnarySpec {
  const def = UNARY_OPS[key[1]];
  return { op: key[1], n: key[2], params: def.params.map((_, i) => fromF32Bits(key[3 + i])) };
}
