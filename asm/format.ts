/**
 * Intel-syntax text of instructions, as GNU as reads it under
 * `.intel_syntax noprefix`, so a listing assembles back to the same bytes.
 *
 * @module
 */
import { Label, Mem, type Operand, Reg, ShortRef, SIZE_WORDS } from "./operands.ts";
import type { Row } from "./rows.ts";

/** Hex text of a signed number: `0x40`, `-0x80`; small values in decimal. */
export function hex(v: number | bigint): string {
  if (typeof v === "bigint") return v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
  if (v >= 0 && v < 10) return String(v);
  return v < 0 ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
}

/** Text of a memory operand; `size` and `bcstCount` come from the row when known. */
export function formatMem(m: Mem, size = m.size, bcstCount = 0): string {
  const parts: string[] = [];
  if (m.base) parts.push(m.base.name);
  if (m.label) parts.push(m.label.name);
  if (m.index) parts.push(`${m.index.name}*${m.scale}`);
  let addr = parts.join("+");
  if (m.disp !== 0 || addr === "") {
    if (addr === "") addr = hex(m.disp);
    else addr += m.disp < 0 ? `-${hex(-m.disp)}` : `+${hex(m.disp)}`;
  }
  const word = size ? `${SIZE_WORDS[size]} ptr ` : "";
  const deco = (m.bcst ? `{1to${bcstCount || "N"}}` : "") + (m.mask ? `{k${m.mask}}` : "");
  return `${word}[${addr}]${deco}`;
}

/** Text of one operand. */
export function formatOperand(op: Operand, row?: Row, index = -1): string {
  if (op instanceof Reg) return op.toString();
  if (op instanceof Mem) {
    let size = op.size;
    let count = 0;
    if (row && index === row.memIndex) {
      if (op.bcst) {
        count = row.bcstCount;
        size = size || row.nb;
      } else size = size || row.ops[index].memSize;
    }
    return formatMem(op, size, count);
  }
  if (op instanceof Label) return op.name;
  if (op instanceof ShortRef) return op.toString();
  return hex(op);
}

/** Text of one instruction. */
export function formatInstruction(row: Row, ops: readonly Operand[]): string {
  const text = ops.map((op, i) => formatOperand(op, row, i)).join(", ");
  return text ? `${row.mnemonic} ${text}` : row.mnemonic;
}
