/**
 * Reading a `jit.unary` call: the op by name, x and y lengths through the
 * intrinsic getter (y must match x; y may be x), the op's parameters
 * (rounded to f32) with ONNX defaults; the key written without allocating.
 *
 * @module
 */
import { describe, viewLength } from "../../typed.ts";
import { f32Bits, fromF32Bits } from "../key.ts";
import { UNARY_IDS, UNARY_OPS, type UnaryOp, type UnaryParam, type UnaryParams } from "./ops.ts";
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
  // Named loads, not a loop over names: a keyed load of a double field boxes
  // it (16 bytes a call, measured), a named one stays unboxed.
  const alpha = params.alpha, beta = params.beta, gamma = params.gamma;
  const min = params.min, max = params.max;
  if (alpha !== undefined) param(who, def, "alpha", alpha, key, slot);
  if (beta !== undefined) param(who, def, "beta", beta, key, slot);
  if (gamma !== undefined) param(who, def, "gamma", gamma, key, slot);
  if (min !== undefined) param(who, def, "min", min, key, slot);
  if (max !== undefined) param(who, def, "max", max, key, slot);
}

/** Writes one given parameter into its slot, or throws naming it. */
function param(
  who: string,
  def: { name: string; params: readonly UnaryParam[] },
  name: UnaryParam,
  v: unknown,
  key: Int32Array,
  slot: number,
): void {
  const at = def.params.indexOf(name);
  if (at < 0 || typeof v !== "number") badParam(who, def.name, name, v, def.params);
  key[slot + at] = f32Bits(v);
}

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
    return readParams(who, id, undefined, key, slot + 1);
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
  readParams(who, id, act as UnaryParams, key, slot + 1);
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
