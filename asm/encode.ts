/**
 * The three encoders (legacy with REX, VEX, EVEX) and the ModRM/SIB/disp
 * writer they share. They read a compiled table row and the operands the
 * matcher accepted for it; nothing here knows any mnemonic.
 *
 * @module
 */
import { AssemblerError } from "./errors.ts";
import { type Label, Mem, type Operand, Reg, ShortRef } from "./operands.ts";
import { EVEX, IMM, LEGACY, ROLE, type Row, VEX } from "./rows.ts";

/** A reference to a label that is resolved when the program is finished. */
export interface Fixup {
  /** Where the displacement is written. */
  at: number;
  /** 1 or 4 bytes. */
  size: number;
  label: Label;
  /** The displacement is relative to this offset (the end of the instruction). */
  end: number;
  /** Added to the label's offset (RIP-relative memory with a displacement). */
  addend: number;
}

/** The byte sink of an assembler. */
export interface Sink {
  buf: Uint8Array;
  pos: number;
  fixups: Fixup[];
}

/** The operands of one instruction sorted by role. */
interface Fields {
  reg: Reg | null;
  rm: Reg | null;
  mem: Mem | null;
  vvvv: Reg | null;
  opreg: Reg | null;
}
const f: Fields = { reg: null, rm: null, mem: null, vvvv: null, opreg: null };

/** Text of an instruction for error messages. */
export function describe(mnemonic: string, ops: ArrayLike<Operand>, n: number): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    const op = ops[i];
    if (op instanceof Mem) {
      const size = op.size ? `${op.size * 8}-bit ` : "";
      parts.push(`${size}memory`);
    } else parts.push(String(op));
  }
  return `${mnemonic} ${parts.join(", ")}`.trim();
}

function sortFields(row: Row, ops: ArrayLike<Operand>): void {
  f.reg = row.regIdx >= 0 ? ops[row.regIdx] as Reg : null;
  f.rm = f.mem = null;
  if (row.rmIdx >= 0) {
    const o = ops[row.rmIdx];
    if (o instanceof Mem) f.mem = o;
    else f.rm = o as Reg;
  }
  f.vvvv = row.vIdx >= 0 ? ops[row.vIdx] as Reg : null;
  f.opreg = row.opregIdx >= 0 ? ops[row.opregIdx] as Reg : null;
}

/** Encodes one instruction at `sink.pos`. The row must match the operands. */
export function encode(sink: Sink, row: Row, ops: ArrayLike<Operand>, n: number): void {
  sortFields(row, ops);
  if (sink.pos + 32 > sink.buf.length) {
    const bigger = new Uint8Array(sink.buf.length * 2);
    bigger.set(sink.buf);
    sink.buf = bigger;
  }
  const buf = sink.buf;
  const start = sink.pos;
  let pos = start;
  if (row.space === LEGACY) pos = legacyPrefix(buf, pos, row, ops, n);
  else if (row.space === VEX) pos = vexPrefix(buf, pos, row);
  else pos = evexPrefix(buf, pos, row, ops[0]);

  const op = row.opcode;
  for (let i = 0; i < op.length; i++) buf[pos++] = op[i];
  if (f.opreg !== null) buf[pos - 1] += f.opreg.id & 7;

  let ripAt = -1;
  if (row.digit !== -2) {
    const regField = (row.digit >= 0 ? row.digit : f.reg !== null ? f.reg.id : 0) & 7;
    if (f.rm !== null) buf[pos++] = 0xc0 | (regField << 3) | (f.rm.id & 7);
    else if (f.mem !== null) {
      sink.pos = pos;
      ripAt = modrmMemory(sink, row, regField, f.mem);
      pos = sink.pos;
    } else buf[pos++] = 0xc0 | (regField << 3); // register-only forms (tilezero)
  }
  sink.pos = pos;
  // Immediates, is4 and relative targets, in operand order.
  const tail = row.tailIdx;
  for (let t = 0; t < tail.length; t++) {
    const i = tail[t];
    const spec = row.ops[i];
    if (spec.role === ROLE.I) writeImm(sink, ops[i] as number | bigint, spec.immBytes);
    else if (spec.role === ROLE.S) buf[sink.pos++] = ((ops[i] as Reg).id & 15) << 4;
    else relative(sink, ops[i] as Label | ShortRef, spec.immBytes);
  }
  if (ripAt >= 0) {
    const mem = f.mem!;
    if (mem.label) {
      sink.fixups.push({ at: ripAt, size: 4, label: mem.label, end: sink.pos, addend: mem.disp });
    }
  }
  if (sink.pos - start > 15) {
    throw new AssemblerError(describe(row.mnemonic, ops, n), "instruction longer than 15 bytes");
  }
}

function legacyPrefix(
  buf: Uint8Array,
  pos: number,
  row: Row,
  ops: ArrayLike<Operand>,
  n: number,
): number {
  const prefixes = row.prefixes;
  for (let i = 0; i < prefixes.length; i++) buf[pos++] = prefixes[i];
  let rex = row.w << 3;
  if (f.reg !== null) rex |= (f.reg.id & 8) >> 1;
  rex |= rmBits();
  let high = false, needs = false;
  if (row.byteRegs) {
    for (let i = 0; i < n; i++) {
      const o = ops[i];
      if (o instanceof Reg) {
        if (o.kind === "gp8h") high = true;
        else if (o.rexOnly) needs = true;
      }
    }
  }
  if (rex !== 0 || needs) {
    if (high) {
      throw new AssemblerError(
        describe(row.mnemonic, ops, n),
        "ah/ch/dh/bh cannot be encoded in an instruction that needs a REX prefix",
      );
    }
    buf[pos++] = 0x40 | rex;
  }
  return pos;
}

/** The X and B extension bits (bit 3 of index and base/rm/opcode register), as X<<1 | B. */
function rmBits(): number {
  if (f.rm !== null) return (f.rm.id >> 3) & 1;
  const mem = f.mem;
  if (mem !== null) {
    let xb = 0;
    if (mem.index !== null) xb = (mem.index.id & 8) >> 2;
    if (mem.base !== null && mem.base.kind !== "rip") xb |= (mem.base.id >> 3) & 1;
    return xb;
  }
  if (f.opreg !== null) return (f.opreg.id >> 3) & 1;
  return 0;
}

function vexPrefix(buf: Uint8Array, pos: number, row: Row): number {
  const r = f.reg !== null ? (f.reg.id >> 3) & 1 : 0;
  const xb = rmBits();
  const v = f.vvvv !== null ? f.vvvv.id & 15 : 0;
  if (row.map === 1 && row.w === 0 && xb === 0) {
    buf[pos++] = 0xc5;
    buf[pos++] = ((r ^ 1) << 7) | ((v ^ 15) << 3) | (row.l << 2) | row.pp;
  } else {
    buf[pos++] = 0xc4;
    buf[pos++] = ((r ^ 1) << 7) | ((xb ^ 3) << 5) | row.map;
    buf[pos++] = (row.w << 7) | ((v ^ 15) << 3) | (row.l << 2) | row.pp;
  }
  return pos;
}

function evexPrefix(buf: Uint8Array, pos: number, row: Row, dest: Operand): number {
  const reg = f.reg !== null ? f.reg.id : 0;
  let x = 0, b = 0, bc = 0;
  if (f.rm !== null) {
    b = (f.rm.id >> 3) & 1;
    x = (f.rm.id >> 4) & 1;
  } else if (f.mem !== null) {
    const xb = rmBits();
    x = xb >> 1;
    b = xb & 1;
    if (f.mem.bcst !== 0) bc = 1;
  }
  const v = f.vvvv !== null ? f.vvvv.id : 0;
  let aaa = 0, z = 0;
  if (dest instanceof Reg) {
    aaa = dest.mask;
    z = dest.zero ? 1 : 0;
  } else if (dest instanceof Mem) aaa = dest.mask;
  buf[pos++] = 0x62;
  buf[pos++] = ((((reg >> 3) & 1) ^ 1) << 7) | ((x ^ 1) << 6) | ((b ^ 1) << 5) |
    ((((reg >> 4) & 1) ^ 1) << 4) | row.map;
  buf[pos++] = (row.w << 7) | (((v & 15) ^ 15) << 3) | 4 | row.pp;
  buf[pos++] = (z << 7) | (row.l << 5) | (bc << 4) | ((((v >> 4) & 1) ^ 1) << 3) | aaa;
  return pos;
}

/**
 * Writes ModRM, SIB and displacement for a memory operand. Returns where a
 * RIP-relative disp32 was written (to fix up once the instruction's end is known), or -1.
 */
function modrmMemory(sink: Sink, row: Row, reg: number, mem: Mem): number {
  const buf = sink.buf;
  const base = mem.base;
  const index = mem.index;
  const disp = mem.disp;
  if (base !== null && base.kind === "rip") {
    buf[sink.pos++] = (reg << 3) | 5;
    const at = sink.pos;
    writeI32(buf, at, disp);
    sink.pos += 4;
    return at;
  }
  const ss = mem.scale === 1 ? 0 : mem.scale === 2 ? 1 : mem.scale === 4 ? 2 : 3;
  if (base === null) {
    // Absolute or index-only: SIB with no base, always disp32.
    buf[sink.pos++] = (reg << 3) | 4;
    buf[sink.pos++] = (ss << 6) | ((index ? index.id & 7 : 4) << 3) | 5;
    writeI32(buf, sink.pos, disp);
    sink.pos += 4;
    return -1;
  }
  // Displacement size: none, disp8 (EVEX: compressed by N), or disp32.
  let mod: number, d8 = 0;
  if (disp === 0 && (base.id & 7) !== 5) mod = 0;
  else {
    const scale = row.space === EVEX ? (mem.bcst ? row.nb : row.n) : 1;
    if (disp % scale === 0 && disp / scale >= -128 && disp / scale <= 127) {
      mod = 1;
      d8 = disp / scale;
    } else mod = 2;
  }
  const b = base.id & 7;
  if (index !== null || b === 4 || row.sib) {
    buf[sink.pos++] = (mod << 6) | (reg << 3) | 4;
    buf[sink.pos++] = (ss << 6) | ((index ? index.id & 7 : 4) << 3) | b;
  } else {
    buf[sink.pos++] = (mod << 6) | (reg << 3) | b;
  }
  if (mod === 1) buf[sink.pos++] = d8 & 0xff;
  else if (mod === 2) {
    writeI32(buf, sink.pos, disp);
    sink.pos += 4;
  }
  return -1;
}

function writeI32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v & 0xff;
  buf[at + 1] = (v >> 8) & 0xff;
  buf[at + 2] = (v >> 16) & 0xff;
  buf[at + 3] = (v >> 24) & 0xff;
}

function writeImm(sink: Sink, v: number | bigint, bytes: number): void {
  const buf = sink.buf;
  if (bytes === 8) {
    const u = BigInt.asUintN(64, BigInt(v));
    const lo = Number(u & 0xffffffffn), hi = Number(u >> 32n);
    writeI32(buf, sink.pos, lo | 0);
    writeI32(buf, sink.pos + 4, hi | 0);
    sink.pos += 8;
    return;
  }
  const x = typeof v === "bigint" ? Number(BigInt.asIntN(32, v)) : v;
  if (bytes === 1) buf[sink.pos++] = x & 0xff;
  else if (bytes === 2) {
    buf[sink.pos++] = x & 0xff;
    buf[sink.pos++] = (x >> 8) & 0xff;
  } else {
    writeI32(buf, sink.pos, x | 0);
    sink.pos += 4;
  }
}

function relative(sink: Sink, target: Label | ShortRef, bytes: number): void {
  const label = target instanceof ShortRef ? target.label : target;
  const at = sink.pos;
  const end = at + bytes;
  sink.pos = end;
  if (label.bound) {
    const d = label.offset - end;
    if (bytes === 1) {
      if (d < -128 || d > 127) {
        throw new AssemblerError(
          `jump to ${label.name}`,
          `target ${d} bytes away does not fit rel8`,
        );
      }
      sink.buf[at] = d & 0xff;
    } else writeI32(sink.buf, at, d);
  } else sink.fixups.push({ at, size: bytes, label, end, addend: 0 });
}

/** Whether an immediate fits an operand of the given kind and operand size. */
export function immFits(v: number | bigint, kind: number, opsize: number): boolean {
  if (typeof v === "bigint") {
    if (v < -(1n << 63n) || v >= (1n << 64n)) return false;
    if (kind === IMM.U64) return true;
    // As for numbers: an unsigned 64-bit spelling of a small negative fits.
    const signed = opsize === 64 ? BigInt.asIntN(64, v) : v;
    if (signed < BigInt(Number.MIN_SAFE_INTEGER) || signed > BigInt(Number.MAX_SAFE_INTEGER)) {
      return false;
    }
    return immFits(Number(signed), kind, opsize);
  }
  if (!Number.isInteger(v)) return false;
  switch (kind) {
    case IMM.U8:
      return v >= -128 && v <= 255;
    case IMM.S8:
      // A value written as unsigned that is a small negative at the operand
      // size (0xffffffff for a 32-bit op) sign-extends from imm8, as in GNU as.
      if (v >= 2 ** opsize - 128 && v < 2 ** opsize) return true;
      return v >= -128 && v <= 127;
    case IMM.U16:
      return v >= -32768 && v <= 65535;
    case IMM.U32:
      return v >= -0x80000000 && v <= 0xffffffff;
    case IMM.S32:
      return v >= -0x80000000 && v <= 0x7fffffff;
    case IMM.U64:
      return v >= -(2 ** 63) && v < 2 ** 64;
  }
  return false;
}

/** Length in bytes of a rel8 jump row (prefixes + opcode + 1). */
export function rel8Length(row: Row): number {
  return row.prefixes.length + row.opcode.length + 1;
}
