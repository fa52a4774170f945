/**
 * One column of softmax's first and last passes, shared by the rows taken
 * one after the other (generate.ts) and overlapped (overlapped.ts), so
 * each element goes through the same instructions either way.
 *
 * @module
 */
import type { Reg } from "../../../asm/mod.ts";
import type { ColumnKind } from "../columns.ts";
import { f32, type Tail, type Vec } from "../vec.ts";

/**
 * Pass 1: acc = max(acc, the row's elements at base + disp), read into
 * `t`: a vector, a tail (its other lanes −Inf, `fill` clobbered) or one
 * element.
 */
export function emitMaxColumn(
  v: Vec,
  acc: number,
  t: number,
  base: Reg,
  disp: number,
  kind: ColumnKind,
  tail: Tail | null,
  fill: number,
): void {
  if (kind === "scalar") {
    v.loadScalar(t, base, disp);
    return v.scalarOp("max", acc, t);
  }
  if (kind === "tail") v.loadFilled(t, base, disp, tail!, f32(-Infinity), fill);
  else v.load(t, base, disp);
  v.op("max", acc, acc, t);
}

/**
 * Pass 3, in temporary `t`: y = e·total (softmax: e stored at y, total =
 * 1/sum) or (x − mx) − total (logSoftmax: total = ln(sum)), stored at y.
 */
export function emitFinishColumn(
  v: Vec,
  log: boolean,
  t: number,
  x: Reg,
  y: Reg,
  disp: number,
  kind: ColumnKind,
  tail: Tail | null,
  mx: number,
  total: number,
): void {
  if (kind === "scalar") {
    if (log) {
      v.loadScalar(t, x, disp);
      v.scalarOp("sub", t, mx);
      v.scalarOp("sub", t, total);
    } else {
      v.loadScalar(t, y, disp);
      v.scalarOp("mul", t, total);
    }
    return v.storeScalar(y, disp, t);
  }
  const mask = kind === "tail" ? tail! : undefined;
  if (log) {
    v.load(t, x, disp, mask);
    v.op("sub", t, t, mx);
    v.op("sub", t, t, total);
  } else {
    v.load(t, y, disp, mask);
    v.op("mul", t, t, total);
  }
  v.store(y, disp, t, mask);
}
