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
  is4: Reg | null;
}
const f: Fields = { reg: null, rm: null, mem: null, vvvv: null, opreg: null, is4: null };

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

function sortFields(row: Row, ops: ArrayLike<Operand>, n: number): void {
  f.reg =
    f.rm =
    f.mem =
    f.vvvv =
    f.opreg =
    f.is4 =
      null;
  for (let i = 0; i < n; i++) {
    const op = ops[i];
    switch (row.ops[i].role) {
      case ROLE.R:
        f.reg = op as Reg;
        break;
      case ROLE.M:
        if (op instanceof Mem) f.mem = op;
        else f.rm = op as Reg;
        break;
      case ROLE.V:
        f.vvvv = op as Reg;
        break;
      case ROLE.O:
        f.opreg = op as Reg;
        break;
      case ROLE.S:
        f.is4 = op as Reg;
        break;
    }
  }
}

/** Encodes one instruction at `sink.pos`. The row must match the operands. */
export function encode(sink: Sink, row: Row, ops: ArrayLike<Operand>, n: number): void {
  sortFields(row, ops, n);
  if (sink.pos + 32 > sink.buf.length) {
    const bigger = new Uint8Array(sink.buf.length * 2);
    bigger.set(sink.buf);
    sink.buf = bigger;
  }
  const start = sink.pos;
  if (row.space === LEGACY) legacyPrefix(sink, row, ops, n);
  else if (row.space === VEX) vexPrefix(sink, row);
  else evexPrefix(sink, row, ops[0]);

  const buf = sink.buf;
  const op = row.opcode;
  for (let i = 0; i < op.length; i++) buf[sink.pos++] = op[i];
  if (f.opreg) buf[sink.pos - 1] += f.opreg.id & 7;

  let ripAt = -1;
  if (row.digit !== -2) {
    const regField = row.digit >= 0 ? row.digit : f.reg ? f.reg.id : 0;
    if (f.rm) buf[sink.pos++] = 0xc0 | ((regField & 7) << 3) | (f.rm.id & 7);
    else if (f.mem) ripAt = modrmMemory(sink, row, regField & 7, f.mem);
    else buf[sink.pos++] = 0xc0 | ((regField & 7) << 3); // register-only forms (tilezero)
  }
  // Immediates, is4 and relative targets, in operand order.
  for (let i = 0; i < n; i++) {
    const spec = row.ops[i];
    if (spec.role === ROLE.I) writeImm(sink, ops[i] as number | bigint, spec.immBytes);
    else if (spec.role === ROLE.S) buf[sink.pos++] = ((ops[i] as Reg).id & 15) << 4;
    else if (spec.role === ROLE.J) relative(sink, ops[i] as Label | ShortRef, spec.immBytes);
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

function legacyPrefix(sink: Sink, row: Row, ops: ArrayLike<Operand>, n: number): void {
  const buf = sink.buf;
  for (let i = 0; i < row.prefixes.length; i++) buf[sink.pos++] = row.prefixes[i];
  let rex = row.w << 3;
  if (f.reg) rex |= (f.reg.id & 8) >> 1;
  if (f.mem) {
    if (f.mem.index) rex |= (f.mem.index.id & 8) >> 2;
    if (f.mem.base && f.mem.base.kind !== "rip") rex |= (f.mem.base.id & 8) >> 3;
  }
  if (f.rm) rex |= (f.rm.id & 8) >> 3;
  if (f.opreg) rex |= (f.opreg.id & 8) >> 3;
  let high = false, needs = false;
  for (let i = 0; i < n; i++) {
    const o = ops[i];
    if (o instanceof Reg) {
      if (o.kind === "gp8h") high = true;
      else if (o.rexOnly) needs = true;
    }
  }
  if (rex !== 0 || needs) {
    if (high) {
      throw new AssemblerError(
        describe(row.mnemonic, ops, n),
        "ah/ch/dh/bh cannot be encoded in an instruction that needs a REX prefix",
      );
    }
    buf[sink.pos++] = 0x40 | rex;
  }
}

/** The B/X extension bits of the ModRM.rm side. */
function rmBits(): number {
  let x = 0, b = 0;
  if (f.rm) b = (f.rm.id >> 3) & 1;
  else if (f.mem) {
    if (f.mem.index) x = (f.mem.index.id >> 3) & 1;
    if (f.mem.base && f.mem.base.kind !== "rip") b = (f.mem.base.id >> 3) & 1;
  } else if (f.opreg) b = (f.opreg.id >> 3) & 1;
  return (x << 1) | b;
}

function vexPrefix(sink: Sink, row: Row): void {
  const buf = sink.buf;
  const r = f.reg ? (f.reg.id >> 3) & 1 : 0;
  const xb = rmBits();
  const v = f.vvvv ? f.vvvv.id & 15 : 0;
  if (row.map === 1 && row.w === 0 && xb === 0) {
    buf[sink.pos++] = 0xc5;
    buf[sink.pos++] = ((r ^ 1) << 7) | ((v ^ 15) << 3) | (row.l << 2) | row.pp;
  } else {
    buf[sink.pos++] = 0xc4;
    buf[sink.pos++] = ((r ^ 1) << 7) | ((xb ^ 3) << 5) | row.map;
    buf[sink.pos++] = (row.w << 7) | ((v ^ 15) << 3) | (row.l << 2) | row.pp;
  }
}

function evexPrefix(sink: Sink, row: Row, dest: Operand): void {
  const buf = sink.buf;
  const reg = f.reg ? f.reg.id : 0;
  let x = 0, b = 0;
  if (f.rm) {
    b = (f.rm.id >> 3) & 1;
    x = (f.rm.id >> 4) & 1;
  } else if (f.mem) {
    if (f.mem.index) x = (f.mem.index.id >> 3) & 1;
    if (f.mem.base && f.mem.base.kind !== "rip") b = (f.mem.base.id >> 3) & 1;
  }
  const v = f.vvvv ? f.vvvv.id : 0;
  let aaa = 0, z = 0;
  if (dest instanceof Reg) {
    aaa = dest.mask;
    z = dest.zero ? 1 : 0;
  } else if (dest instanceof Mem) aaa = dest.mask;
  const bc = f.mem && f.mem.bcst ? 1 : 0;
  buf[sink.pos++] = 0x62;
  buf[sink.pos++] = ((((reg >> 3) & 1) ^ 1) << 7) | ((x ^ 1) << 6) | ((b ^ 1) << 5) |
    ((((reg >> 4) & 1) ^ 1) << 4) | row.map;
  buf[sink.pos++] = (row.w << 7) | (((v & 15) ^ 15) << 3) | 4 | row.pp;
  buf[sink.pos++] = (z << 7) | (row.l << 5) | (bc << 4) | ((((v >> 4) & 1) ^ 1) << 3) | aaa;
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
