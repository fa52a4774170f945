/**
 * The column loop both 8-bit tile kernels (VNNI, AMX) run: C's columns in
 * tiles of `nv` vectors of 16, the partial vector (n mod 16) last, masked by
 * k1; between tiles, packed B (r10), C (r9) and the epilogue's column
 * pointers (rbp bias, rcx column sums, rdi scales, rbx float bias) advance.
 *
 * @module
 */
import {
  type Assembler,
  eax,
  KREG,
  qword,
  r10,
  r8,
  r9,
  rbp,
  rbx,
  rcx,
  rdi,
  rdx,
  rsp,
} from "../../../asm/mod.ts";
import { addImmediate } from "../abi.ts";
import type { QGemmSpec } from "./spec.ts";

/**
 * rdx = packed B, r8 = C. `rowsOf(nv, masked)` emits every row tile of one
 * column tile of `nv` vectors (its last one masked when `masked`); the
 * frame's `colsSlot` counts the loop.
 */
export function emitColumnTiles(
  a: Assembler,
  s: QGemmSpec,
  nv: number,
  colsSlot: number,
  rowsOf: (nv: number, masked: boolean) => void,
): void {
  const vectors = Math.ceil(s.n / 16), tail = s.n % 16; // valid lanes of the last vector (0: all)
  if (tail) {
    a.emit("mov", eax, (1 << tail) - 1);
    a.emit("kmovw", KREG[1], eax);
  }
  a.emit("mov", r10, rdx);
  a.emit("mov", r9, r8);
  const fullTiles = Math.floor(vectors / nv), lastVectors = vectors % nv;
  // The partial vector (n % 16) is the last one: in the last tile, narrow or full.
  const plainFull = tail && lastVectors === 0 ? fullTiles - 1 : fullTiles;
  const advance = () => {
    addImmediate(a, "add", r10, nv * 64);
    addImmediate(a, "add", r9, nv * 64);
    if (s.bias) addImmediate(a, "add", rbp, nv * 64);
    if (s.aZero) addImmediate(a, "add", rcx, nv * 64);
    if (s.scale === 2) addImmediate(a, "add", rdi, nv * 64);
    if (s.floatBias) addImmediate(a, "add", rbx, nv * 64);
  };
  if (plainFull > 1) {
    a.emit("mov", qword(rsp, colsSlot), plainFull);
    const top = a.label();
    a.bind(top);
    rowsOf(nv, false);
    advance();
    a.emit("dec", qword(rsp, colsSlot));
    a.emit("jnz", top);
  } else if (plainFull === 1) {
    rowsOf(nv, false);
    advance();
  }
  if (plainFull < fullTiles) {
    rowsOf(nv, true);
    advance();
  }
  if (lastVectors) rowsOf(lastVectors, tail !== 0);
}
