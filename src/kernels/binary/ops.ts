/**
 * The element operations of the binary family on vector registers, and
 * their f64 references. max and min propagate NaN from either side (x86
 * max/min return the second operand when either is NaN); pow follows C's
 * pow for signs, zeros, infinities and NaN, with exact code for the common
 * constant exponents.
 *
 * @module
 */
import { emitExp } from "../math/exp.ts";
import type { Lanes } from "../math/lanes.ts";
import { emitLog } from "../math/log.ts";
import { f32 } from "../vec.ts";
import type { BinaryOp } from "./spec.ts";

/** d = x op y (d distinct from x and y; x, y kept). */
export function emitBinary(m: Lanes, op: BinaryOp, d: number, x: number, y: number): void {
  const v = m.v;
  switch (op) {
    case "add":
    case "sub":
    case "mul":
    case "div":
      return v.op(op, d, x, y);
    case "max":
    case "min": {
      v.op(op, d, x, y); // y when either is NaN: then put x back where x is the NaN
      const mk = m.mask();
      v.compare(mk, x, "unord", x);
      m.select(d, mk, x, d);
      return m.giveMask(mk);
    }
    case "pow":
      return emitPow(m, d, x, y);
  }
}

/** d = x^y for every pair, as C's powf. */
function emitPow(m: Lanes, d: number, x: number, y: number): void {
  const v = m.v;
  const ax = m.take(), t = m.take(), odd = m.take(), mk = m.mask();
  m.abs(ax, x);
  emitLog(m, t, ax);
  v.op("mul", t, t, y);
  emitExp(m, d, t, { oneUlp: true }); // |x|^y
  // Whether y is an integer, and odd: by conversion (|y| ≥ 2^24 is an even integer).
  v.convert("toInt", odd, y);
  v.convert("toFloat", t, odd);
  v.shift("sll", odd, odd, 31); // the parity bit in the sign position
  m.abs(ax, y);
  v.compare(mk, ax, "nlt", f32(2 ** 24));
  m.select(t, mk, y, t);
  m.select(odd, mk, f32(0), odd); // large: even
  // x < 0: an integer y keeps the magnitude with the parity's sign, any other gives NaN.
  v.compare(mk, t, "neq", y);
  v.op("and", odd, odd, x); // sign only when x is negative and y odd
  v.op("xor", d, d, odd);
  m.select(t, mk, f32(NaN), d);
  // Finite x < 0 only (x + x·0 is NaN at ±Inf): (−Inf)^y keeps its magnitude.
  v.op("mul", odd, x, f32(0));
  v.op("add", odd, odd, x);
  v.compare(mk, odd, "lt", f32(0));
  m.select(d, mk, t, d);
  // (−1)^±Inf = 1; x^0 = 1 and 1^y = 1, whatever the other is (NaN included).
  m.abs(ax, y);
  v.compare(mk, ax, "eq", f32(Infinity));
  m.abs(t, x);
  v.zero(ax);
  m.select(t, mk, t, ax); // |x| where y is infinite, else 0
  v.compare(mk, t, "eq", f32(1));
  m.select(d, mk, f32(1), d);
  v.compare(mk, y, "eq", f32(0));
  m.select(d, mk, f32(1), d);
  v.compare(mk, x, "eq", f32(1));
  m.select(d, mk, f32(1), d);
  m.giveMask(mk);
  m.give(ax, t, odd);
}

/** d = x^e for a constant e: exact code for 0, ±1, 2, 3, ±0.5 and small integers; else null. */
export function emitPowConstant(m: Lanes, d: number, x: number, e: number): boolean {
  const v = m.v;
  if (e === 0) return v.move(d, f32(1)), true;
  if (e === 1) return v.move(d, x), true;
  if (e === 0.5) {
    // sqrt, but pow(−0, ½) = +0 and pow(−Inf, ½) = +Inf.
    v.sqrt(d, x);
    v.op("add", d, d, f32(0));
    const mk = m.mask();
    v.compare(mk, x, "eq", f32(-Infinity));
    m.select(d, mk, f32(Infinity), d);
    m.giveMask(mk);
    return true;
  }
  if (Number.isInteger(e) && Math.abs(e) <= 16) {
    // Square and multiply, from the top bit: ⌈log2 e⌉ + popcount − 1 roundings.
    const n = Math.abs(e);
    v.move(d, x);
    for (let bit = 31 - Math.clz32(n) - 1; bit >= 0; bit--) {
      v.op("mul", d, d, d);
      if (n & (1 << bit)) v.op("mul", d, d, x);
    }
    if (e < 0) {
      const t = m.take();
      v.move(t, f32(1));
      v.op("div", t, t, d);
      v.move(d, t);
      m.give(t);
    }
    return true;
  }
  return false;
}

/** x op y in f64 (pow: JavaScript's **, which is C's pow). */
export function binaryReference(op: BinaryOp, x: number, y: number): number {
  switch (op) {
    case "add":
      return x + y;
    case "sub":
      return x - y;
    case "mul":
      return x * y;
    case "div":
      return x / y;
    // As the kernels compute them (x86 max/min): between equal values (±0) the second.
    case "max":
      return Number.isNaN(x) || Number.isNaN(y) ? NaN : x > y ? x : y;
    case "min":
      return Number.isNaN(x) || Number.isNaN(y) ? NaN : x < y ? x : y;
    case "pow":
      // C's pow(1, NaN) = 1 and pow(−1, ±Inf) = 1, where ** gives NaN.
      return x === 1 || (x === -1 && !Number.isFinite(y) && !Number.isNaN(y)) ? 1 : x ** y;
  }
}
