/**
 * Test cases for the assembler, generated from the instruction table: for
 * every row, every register in each operand slot (the others held fixed),
 * memory operands at the hard cases (rsp/r12 bases, rbp/r13 without
 * displacement, r8-r15 indexes, every scale, disp8/disp32 and EVEX disp8*N
 * boundaries, RIP-relative, absolute), masks, zeroing, broadcasts and
 * immediates at their limits.
 *
 * @module
 */
import {
  C,
  formatInstruction,
  GP16,
  GP32,
  GP64,
  GP8,
  GP8H,
  GROUPS,
  KREG,
  Mem,
  type Operand,
  type Reg,
  rip,
  type Row,
  TMM,
  XMM,
  YMM,
  ZMM,
} from "../../asm/mod.ts";

/** One case: the operands and the text GNU as should read identically. */
export interface AsmCase {
  mnemonic: string;
  ops: Operand[];
  text: string;
  /** The table row the operands were generated from. */
  row: number;
}

const IMM_VALUES: Record<string, (opsize: number) => (number | bigint)[]> = {
  imm8: () => [0, 1, 0x7f, -0x80, 0xff],
  simm8: (s) => (s && s < 64 ? [-0x80, 0x7f, -1, 2 ** s - 1] : [-0x80, 0x7f, -1]),
  imm16: () => [0x1234, -0x8000, 0xffff],
  imm32: () => [0x12345678, -0x80000000, 0xffffffff],
  simm32: () => [0x12345678, -0x80000000, 0x7fffffff],
  imm64: () => [0x123456789abcdef0n, -0x8000000000000000n, 0xffffffffffffffffn, 0x100000000],
};

function registersFor(accept: number, require: number): Reg[] {
  const out: Reg[] = [];
  const add = (list: readonly Reg[]) => {
    for (const r of list) if ((r.cls & require) === require) out.push(r);
  };
  if (accept & C.GP8) add(GP8);
  if (accept & C.GP8H) add(GP8H);
  if (accept & C.GP16) add(GP16);
  if (accept & C.GP32) add(GP32);
  if (accept & C.GP64) add(GP64);
  if (accept & C.XMM) add(XMM.slice(0, 16));
  if (accept & C.XMMH) add(XMM.slice(16));
  if (accept & C.YMM) add(YMM.slice(0, 16));
  if (accept & C.YMMH) add(YMM.slice(16));
  if (accept & C.ZMM) add(ZMM);
  if (accept & C.K) add(KREG);
  if (accept & C.TMM) add(TMM);
  return out;
}

/**
 * A register for a fixed slot: variant 0 a low one, variant 1 the highest
 * the file has (so REX/VEX/EVEX extension bits are exercised); different
 * slots get different registers.
 */
function pick(regs: Reg[], variant: number, slot: number): Reg {
  const top = Math.max(...regs.map((r) => r.id));
  const wanted = variant === 0 ? 2 + slot : top - 6 - slot;
  return regs.find((r) => r.id === wanted) ?? regs[Math.abs(wanted) % regs.length];
}

function memories(row: Row, size: number, bcst: boolean): Mem[] {
  const [rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, , r11, r12, r13, r14, r15] = GP64;
  const out: Mem[] = [];
  const count = bcst ? row.bcstCount : 0;
  const m = (base: Reg | null, disp = 0, index: Reg | null = null, scale = 1) =>
    out.push(new Mem(base, index, scale, disp, size, count));
  m(rax);
  m(rcx, 0, rdx, 2);
  m(rsp);
  m(r12);
  m(rbp);
  m(r13);
  m(rsp, 8);
  m(r12, 0x10, r13, 8);
  m(rbp, 0, r8, 4);
  m(r13, 0, r15, 1);
  m(rax, 0, r9, 8);
  m(rbx, -0x80, rsi, 1);
  m(rsi, -0x81);
  m(rdi, 0x7f);
  m(r8, 0x80);
  m(r11, -0x80000000);
  m(r14, 0x7fffffff);
  m(rip, 0x1234);
  m(rip, -0x10);
  // GNU as cannot read a broadcast from an absolute address (`[0x1234]{1to4}`).
  if (!bcst) {
    m(null, 0x1234);
    m(null, 0x40, rcx, 4);
  }
  m(rsp, 0, rax, 1);
  if (row.space === 2) {
    const n = bcst ? row.nb : row.n;
    m(rax, 127 * n);
    m(rdx, 128 * n);
    m(rbx, -128 * n);
    m(rsi, -129 * n);
    if (n > 1) m(rdi, n / 2);
  }
  return out;
}

function candidates(row: Row, slot: number): { regs: Reg[]; others: Operand[] } {
  const spec = row.ops[slot];
  const regs = registersFor(spec.accept, spec.require);
  const others: Operand[] = [];
  if (spec.accept & (C.M8 | C.M16 | C.M32 | C.M64 | C.M128 | C.M256 | C.M512 | C.MANY)) {
    const size = spec.memSize;
    let mems = memories(row, size, false);
    if (row.sib) mems = mems.filter((x) => x.base && x.base.kind !== "rip");
    others.push(...mems);
  }
  if (spec.accept & (C.B32 | C.B64)) others.push(...memories(row, row.nb, true));
  if (spec.accept & C.ONE) others.push(1);
  if (spec.imm) others.push(...IMM_VALUES[spec.token](row.opsize));
  return { regs, others };
}

/** Every case for one row. */
export function casesForRow(row: Row): AsmCase[] {
  if (row.ops.some((s) => s.accept & C.REL)) return [];
  const slots = row.ops.map((_, i) => candidates(row, i));
  const base = (variant: number): Operand[] =>
    slots.map((s, i) => s.regs.length ? pick(s.regs, variant, i) : s.others[0]);
  const out: AsmCase[] = [];
  const seen = new Set<string>();
  const push = (ops: Operand[]) => {
    const text = formatInstruction(row, ops);
    if (seen.has(text)) return;
    seen.add(text);
    out.push({ mnemonic: row.mnemonic, ops, text, row: row.index });
  };
  if (row.ops.length === 0) push([]);
  for (let variant = 0; variant < 2; variant++) {
    for (let i = 0; i < slots.length; i++) {
      for (const r of slots[i].regs) {
        const ops = base(variant);
        ops[i] = r;
        push(ops);
      }
      for (const o of slots[i].others) {
        const ops = base(variant);
        ops[i] = o;
        push(ops);
      }
    }
  }
  // Masking and zeroing on the destination.
  const dest = row.ops[0];
  if (dest?.maskMode) {
    for (const k of KREG.slice(1)) {
      const ops = base(1);
      const d = ops[0];
      if (typeof d === "object" && "kind" in d) {
        push([d.k(k), ...ops.slice(1)]);
        if (dest.maskMode === 2) push([d.k(k).z, ...ops.slice(1)]);
      } else if (d instanceof Mem) push([d.k(k), ...ops.slice(1)]);
      // A store with a mask also in its memory form.
      const m = slots[0].others.find((o) => o instanceof Mem) as Mem | undefined;
      if (m) push([m.k(k), ...ops.slice(1)]);
    }
  }
  return out;
}

/** Every case for every row of the table. */
export function allCases(): AsmCase[] {
  const out: AsmCase[] = [];
  const rows = [...GROUPS.values()].flat().sort((a, b) => a.index - b.index);
  for (const row of rows) out.push(...casesForRow(row));
  return out;
}
