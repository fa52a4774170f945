/**
 * Reading a `jit.unary` call: the op by name, x and y lengths through the
 * intrinsic getter (y must match x; y may be x), the op's parameters
 * (rounded to f32) with ONNX defaults; the key written without allocating.
 *
 * @module
 */
import { describe, viewLength } from "../../typed.ts";
import { f32Bits, fromF32Bits } from "../key.ts";
import { UNARY_IDS, UNARY_OPS, UNARY_PARAMS, type UnaryParams } from "./ops.ts";
import type { UnarySpec } from "./spec.ts";

/** Names of the unary key slots after the family slot. */
export const UNARY_KEY_FIELDS = ["op", "n", "p0", "p1"] as const;

function badOp(op: unknown): never {
  const names = UNARY_OPS.map((o) => o.name).join(", ");
  if (typeof op !== "string") {
    throw new TypeError(`unary: op must be a string naming the op (${names}), got ${describe(op)}`);
  }
  throw new RangeError(`unary: unknown op "${op}"; expected one of ${names}`);
}

function badParams(p: unknown): never {
  throw new TypeError(`unary: params must be an object or undefined, got ${describe(p)}`);
}

function badParam(op: string, name: string, v: unknown, takes: readonly string[]): never {
  if (!takes.includes(name)) {
    const what = takes.length ? `takes only ${takes.join(" and ")}` : "takes no parameters";
    throw new TypeError(`unary: ${op} ${what}, got ${name} = ${describe(v)}`);
  }
  throw new TypeError(`unary: ${op} ${name} must be a number, got ${describe(v)}`);
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
  if (id === undefined) badOp(op);
  const def = UNARY_OPS[id];
  const n = viewLength(x), ny = viewLength(y);
  if (ny !== n) badLength(ny, n);
  if (n > MAX_UNARY_ELEMENTS) tooLong(n);
  key[1] = id;
  key[2] = n;
  key[3] = def.params.length > 0 ? f32Bits(def.defaults[0]) : 0;
  key[4] = def.params.length > 1 ? f32Bits(def.defaults[1]) : 0;
  if (params !== undefined) {
    if (params === null || typeof params !== "object") badParams(params);
    for (let i = 0; i < UNARY_PARAMS.length; i++) {
      const name = UNARY_PARAMS[i];
      const v = params[name];
      if (v === undefined) continue;
      const slot = def.params.indexOf(name);
      if (slot < 0 || typeof v !== "number") badParam(op, name, v, def.params);
      key[3 + slot] = f32Bits(v);
    }
  }
  extents[0] = 4 * n;
  extents[1] = 4 * n;
}

/** The spec a key describes. */
export function decodeUnaryKey(key: Int32Array): UnarySpec {
  const def = UNARY_OPS[key[1]];
  return { op: key[1], n: key[2], params: def.params.map((_, i) => fromF32Bits(key[3 + i])) };
}
