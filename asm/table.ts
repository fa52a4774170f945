/**
 * The instruction table: one row per instruction form, as data.
 *
 * `[mnemonic, operands, op/en, encoding, EVEX tuple]` in Intel SDM notation
 * (see `rows.ts` for the grammar). Within one encoding space the first row
 * that takes the operands wins, so rows are ordered the way GNU as prefers
 * (sign-extended imm8 before accumulator short forms before imm32; load forms
 * before store forms). VEX rows always win over EVEX rows for the same
 * operands, as in GNU as.
 *
 * Families that differ only in an opcode or a vector length are written once
 * through the small expanders below (`alu`, `cc`, `vl`); each expansion is
 * still one row per form in the final table, and `TABLE` can be printed.
 *
 * @module
 */
import { RowGroups, type RowSpec } from "./rows.ts";

const rows: RowSpec[] = [];
const h = (n: number) => n.toString(16).toUpperCase().padStart(2, "0");

/** Adds one row. */
function row(mnemonic: string, operands: string, opEn: string, encoding: string, tuple?: string) {
  rows.push(
    tuple ? [mnemonic, operands, opEn, encoding, tuple] : [mnemonic, operands, opEn, encoding],
  );
}

const VL_TOKENS: Record<string, Record<number, string>> = {
  VM: { 128: "xmm/m128", 256: "ymm/m256", 512: "zmm/m512" },
  HM: { 128: "xmm/m64", 256: "xmm/m128", 512: "ymm/m256" },
  QM: { 128: "xmm/m32", 256: "xmm/m64", 512: "xmm/m128" },
  V: { 128: "xmm", 256: "ymm", 512: "zmm" },
  H: { 128: "xmm", 256: "xmm", 512: "ymm" },
  M: { 128: "m128", 256: "m256", 512: "m512" },
};

/**
 * One row per vector length: in operands `V` is the full-width register, `VM`
 * register-or-memory, `H`/`HM` half width, `QM` quarter width, `M` memory only;
 * in the encoding `.L.` becomes `.128.`, `.256.` or `.512.`.
 */
function vl(
  mnemonic: string,
  operands: string,
  opEn: string,
  encoding: string,
  tuple?: string,
  lengths: readonly number[] = encoding.startsWith("EVEX") ? [128, 256, 512] : [128, 256],
) {
  for (const l of lengths) {
    const ops = operands.split(",").map((t) =>
      t.trim().replace(/^(VM|HM|QM|V|H|M)(?=$|[/{])/, (m) => VL_TOKENS[m][l])
    ).join(", ");
    row(mnemonic, ops, opEn, encoding.replace(".L.", `.${l}.`), tuple);
  }
}

// ---------------------------------------------------------------- general purpose

/** The eight classic ALU operations: add, or, adc, sbb, and, sub, xor, cmp. */
function alu(mn: string, base: number, digit: number) {
  const d = `/${digit}`;
  row(mn, "r/m8, r8", "MR", `${h(base)} /r`);
  row(mn, "r/m16, r16", "MR", `66 ${h(base + 1)} /r`);
  row(mn, "r/m32, r32", "MR", `${h(base + 1)} /r`);
  row(mn, "r/m64, r64", "MR", `REX.W ${h(base + 1)} /r`);
  row(mn, "r8, r/m8", "RM", `${h(base + 2)} /r`);
  row(mn, "r16, r/m16", "RM", `66 ${h(base + 3)} /r`);
  row(mn, "r32, r/m32", "RM", `${h(base + 3)} /r`);
  row(mn, "r64, r/m64", "RM", `REX.W ${h(base + 3)} /r`);
  row(mn, "r/m16, simm8", "MI", `66 83 ${d} ib`);
  row(mn, "r/m32, simm8", "MI", `83 ${d} ib`);
  row(mn, "r/m64, simm8", "MI", `REX.W 83 ${d} ib`);
  row(mn, "al, imm8", "_I", `${h(base + 4)} ib`);
  row(mn, "ax, imm16", "_I", `66 ${h(base + 5)} iw`);
  row(mn, "eax, imm32", "_I", `${h(base + 5)} id`);
  row(mn, "rax, simm32", "_I", `REX.W ${h(base + 5)} id`);
  row(mn, "r/m8, imm8", "MI", `80 ${d} ib`);
  row(mn, "r/m16, imm16", "MI", `66 81 ${d} iw`);
  row(mn, "r/m32, imm32", "MI", `81 ${d} id`);
  row(mn, "r/m64, simm32", "MI", `REX.W 81 ${d} id`);
}
alu("add", 0x00, 0);
alu("or", 0x08, 1);
alu("adc", 0x10, 2);
alu("sbb", 0x18, 3);
alu("and", 0x20, 4);
alu("sub", 0x28, 5);
alu("xor", 0x30, 6);
alu("cmp", 0x38, 7);

/** Shifts and rotates: by 1, by cl, by imm8. */
function shift(mn: string, digit: number) {
  const d = `/${digit}`;
  row(mn, "r/m8, 1", "M_", `D0 ${d}`);
  row(mn, "r/m16, 1", "M_", `66 D1 ${d}`);
  row(mn, "r/m32, 1", "M_", `D1 ${d}`);
  row(mn, "r/m64, 1", "M_", `REX.W D1 ${d}`);
  row(mn, "r/m8, cl", "M_", `D2 ${d}`);
  row(mn, "r/m16, cl", "M_", `66 D3 ${d}`);
  row(mn, "r/m32, cl", "M_", `D3 ${d}`);
  row(mn, "r/m64, cl", "M_", `REX.W D3 ${d}`);
  row(mn, "r/m8, imm8", "MI", `C0 ${d} ib`);
  row(mn, "r/m16, imm8", "MI", `66 C1 ${d} ib`);
  row(mn, "r/m32, imm8", "MI", `C1 ${d} ib`);
  row(mn, "r/m64, imm8", "MI", `REX.W C1 ${d} ib`);
}
shift("rol", 0);
shift("ror", 1);
shift("rcl", 2);
shift("rcr", 3);
shift("shl", 4);
shift("sal", 4);
shift("shr", 5);
shift("sar", 7);

/** One-operand group 3/4/5 forms: inc, dec, not, neg, mul, imul, div, idiv. */
function unary(mn: string, op8: string, op: string, digit: number) {
  row(mn, "r/m8", "M", `${op8} /${digit}`);
  row(mn, "r/m16", "M", `66 ${op} /${digit}`);
  row(mn, "r/m32", "M", `${op} /${digit}`);
  row(mn, "r/m64", "M", `REX.W ${op} /${digit}`);
}
unary("inc", "FE", "FF", 0);
unary("dec", "FE", "FF", 1);
unary("not", "F6", "F7", 2);
unary("neg", "F6", "F7", 3);
unary("mul", "F6", "F7", 4);
unary("imul", "F6", "F7", 5);
unary("div", "F6", "F7", 6);
unary("idiv", "F6", "F7", 7);

row("imul", "r16, r/m16", "RM", "66 0F AF /r");
row("imul", "r32, r/m32", "RM", "0F AF /r");
row("imul", "r64, r/m64", "RM", "REX.W 0F AF /r");
row("imul", "r16, r/m16, simm8", "RMI", "66 6B /r ib");
row("imul", "r32, r/m32, simm8", "RMI", "6B /r ib");
row("imul", "r64, r/m64, simm8", "RMI", "REX.W 6B /r ib");
row("imul", "r16, r/m16, imm16", "RMI", "66 69 /r iw");
row("imul", "r32, r/m32, imm32", "RMI", "69 /r id");
row("imul", "r64, r/m64, simm32", "RMI", "REX.W 69 /r id");

row("mov", "r/m8, r8", "MR", "88 /r");
row("mov", "r/m16, r16", "MR", "66 89 /r");
row("mov", "r/m32, r32", "MR", "89 /r");
row("mov", "r/m64, r64", "MR", "REX.W 89 /r");
row("mov", "r8, r/m8", "RM", "8A /r");
row("mov", "r16, r/m16", "RM", "66 8B /r");
row("mov", "r32, r/m32", "RM", "8B /r");
row("mov", "r64, r/m64", "RM", "REX.W 8B /r");
row("mov", "r8, imm8", "OI", "B0+r ib");
row("mov", "r16, imm16", "OI", "66 B8+r iw");
row("mov", "r32, imm32", "OI", "B8+r id");
row("mov", "r/m64, simm32", "MI", "REX.W C7 /0 id");
row("mov", "r64, imm64", "OI", "REX.W B8+r iq");
row("mov", "r/m8, imm8", "MI", "C6 /0 ib");
row("mov", "r/m16, imm16", "MI", "66 C7 /0 iw");
row("mov", "r/m32, imm32", "MI", "C7 /0 id");
row("movabs", "r64, imm64", "OI", "REX.W B8+r iq");

row("movzx", "r16, r/m8", "RM", "66 0F B6 /r");
row("movzx", "r32, r/m8", "RM", "0F B6 /r");
row("movzx", "r64, r/m8", "RM", "REX.W 0F B6 /r");
row("movzx", "r32, r/m16", "RM", "0F B7 /r");
row("movzx", "r64, r/m16", "RM", "REX.W 0F B7 /r");
row("movsx", "r16, r/m8", "RM", "66 0F BE /r");
row("movsx", "r32, r/m8", "RM", "0F BE /r");
row("movsx", "r64, r/m8", "RM", "REX.W 0F BE /r");
row("movsx", "r32, r/m16", "RM", "0F BF /r");
row("movsx", "r64, r/m16", "RM", "REX.W 0F BF /r");
row("movsxd", "r64, r/m32", "RM", "REX.W 63 /r");

row("lea", "r16, m", "RM", "66 8D /r");
row("lea", "r32, m", "RM", "8D /r");
row("lea", "r64, m", "RM", "REX.W 8D /r");

row("test", "r/m8, r8", "MR", "84 /r");
row("test", "r/m16, r16", "MR", "66 85 /r");
row("test", "r/m32, r32", "MR", "85 /r");
row("test", "r/m64, r64", "MR", "REX.W 85 /r");
row("test", "al, imm8", "_I", "A8 ib");
row("test", "ax, imm16", "_I", "66 A9 iw");
row("test", "eax, imm32", "_I", "A9 id");
row("test", "rax, simm32", "_I", "REX.W A9 id");
row("test", "r/m8, imm8", "MI", "F6 /0 ib");
row("test", "r/m16, imm16", "MI", "66 F7 /0 iw");
row("test", "r/m32, imm32", "MI", "F7 /0 id");
row("test", "r/m64, simm32", "MI", "REX.W F7 /0 id");

row("bt", "r/m32, r32", "MR", "0F A3 /r");
row("bt", "r/m64, r64", "MR", "REX.W 0F A3 /r");
row("bt", "r/m32, imm8", "MI", "0F BA /4 ib");
row("bt", "r/m64, imm8", "MI", "REX.W 0F BA /4 ib");
row("bsf", "r32, r/m32", "RM", "0F BC /r");
row("bsf", "r64, r/m64", "RM", "REX.W 0F BC /r");
row("bsr", "r32, r/m32", "RM", "0F BD /r");
row("bsr", "r64, r/m64", "RM", "REX.W 0F BD /r");
row("tzcnt", "r32, r/m32", "RM", "F3 0F BC /r");
row("tzcnt", "r64, r/m64", "RM", "F3 REX.W 0F BC /r");
row("lzcnt", "r32, r/m32", "RM", "F3 0F BD /r");
row("lzcnt", "r64, r/m64", "RM", "F3 REX.W 0F BD /r");
row("popcnt", "r32, r/m32", "RM", "F3 0F B8 /r");
row("popcnt", "r64, r/m64", "RM", "F3 REX.W 0F B8 /r");

row("cdq", "", "", "99");
row("cqo", "", "", "REX.W 99");
row("cdqe", "", "", "REX.W 98");

/** Condition codes with GNU as's aliases. */
const CONDITIONS: readonly [number, string[]][] = [
  [0x0, ["o"]],
  [0x1, ["no"]],
  [0x2, ["b", "c", "nae"]],
  [0x3, ["ae", "nb", "nc"]],
  [0x4, ["e", "z"]],
  [0x5, ["ne", "nz"]],
  [0x6, ["be", "na"]],
  [0x7, ["a", "nbe"]],
  [0x8, ["s"]],
  [0x9, ["ns"]],
  [0xa, ["p", "pe"]],
  [0xb, ["np", "po"]],
  [0xc, ["l", "nge"]],
  [0xd, ["ge", "nl"]],
  [0xe, ["le", "ng"]],
  [0xf, ["g", "nle"]],
];
for (const [cc, names] of CONDITIONS) {
  for (const name of names) {
    row(`cmov${name}`, "r16, r/m16", "RM", `66 0F ${h(0x40 + cc)} /r`);
    row(`cmov${name}`, "r32, r/m32", "RM", `0F ${h(0x40 + cc)} /r`);
    row(`cmov${name}`, "r64, r/m64", "RM", `REX.W 0F ${h(0x40 + cc)} /r`);
    row(`set${name}`, "r/m8", "M", `0F ${h(0x90 + cc)} /0`);
    row(`j${name}`, "rel8", "J", `${h(0x70 + cc)} cb`);
    row(`j${name}`, "rel32", "J", `0F ${h(0x80 + cc)} cd`);
  }
}

row("jmp", "rel8", "J", "EB cb");
row("jmp", "rel32", "J", "E9 cd");
row("jmp", "r/m64", "M", "FF /4");
row("call", "rel32", "J", "E8 cd");
row("call", "r/m64", "M", "FF /2");
row("ret", "", "", "C3");
row("ret", "imm16", "I", "C2 iw");
row("push", "r64", "O", "50+r");
row("push", "r/m64", "M", "FF /6");
row("push", "simm8", "I", "6A ib");
row("push", "simm32", "I", "68 id");
row("pop", "r64", "O", "58+r");
row("pop", "r/m64", "M", "8F /0");

row("nop", "", "", "90");
row("nop", "r/m16", "M", "66 0F 1F /0");
row("nop", "r/m32", "M", "0F 1F /0");
row("int3", "", "", "CC");
row("ud2", "", "", "0F 0B");
row("pause", "", "", "F3 90");
// The thread pool's atomics: `lock` stands alone (GNU as accepts it on its own line).
row("lock", "", "", "F0");
row("xadd", "r/m32, r32", "MR", "0F C1 /r");
row("xadd", "r/m64, r64", "MR", "REX.W 0F C1 /r");
row("cmpxchg", "r/m32, r32", "MR", "0F B1 /r");
row("cmpxchg", "r/m64, r64", "MR", "REX.W 0F B1 /r");
row("xchg", "m32, r32", "MR", "87 /r"); // register pairs: GNU as picks 90+r forms, not needed
row("xchg", "m64, r64", "MR", "REX.W 87 /r");
row("syscall", "", "", "0F 05");
row("lfence", "", "", "0F AE E8");
row("mfence", "", "", "0F AE F0");
row("sfence", "", "", "0F AE F8");
row("cpuid", "", "", "0F A2");
row("xgetbv", "", "", "0F 01 D0");
row("rdtsc", "", "", "0F 31");
row("rdtscp", "", "", "0F 01 F9");
// Segment limit: the vDSO's getcpu reads the CPU number from a per-CPU GDT entry's limit with it.
row("lsl", "r32, r32/m16", "RM", "0F 03 /r");
row("prefetchnta", "m8", "M", "0F 18 /0");
row("prefetcht0", "m8", "M", "0F 18 /1");
row("prefetcht1", "m8", "M", "0F 18 /2");
row("prefetcht2", "m8", "M", "0F 18 /3");
row("prefetchw", "m8", "M", "0F 0D /1");
row("shlx", "r32, r/m32, r32", "RMV", "VEX.LZ.66.0F38.W0 F7 /r");
row("shlx", "r64, r/m64, r64", "RMV", "VEX.LZ.66.0F38.W1 F7 /r");
row("shrx", "r32, r/m32, r32", "RMV", "VEX.LZ.F2.0F38.W0 F7 /r");
row("shrx", "r64, r/m64, r64", "RMV", "VEX.LZ.F2.0F38.W1 F7 /r");
row("sarx", "r32, r/m32, r32", "RMV", "VEX.LZ.F3.0F38.W0 F7 /r");
row("sarx", "r64, r/m64, r64", "RMV", "VEX.LZ.F3.0F38.W1 F7 /r");

// ---------------------------------------------------------------- SSE / SSE2 (legacy)

/** A packed-single / scalar-single pair of SSE arithmetic forms (and the double ones). */
function sseArith(name: string, op: number, doubles = true) {
  row(`${name}ps`, "xmm, xmm/m128", "RM", `0F ${h(op)} /r`);
  row(`${name}ss`, "xmm, xmm/m32", "RM", `F3 0F ${h(op)} /r`);
  if (doubles) {
    row(`${name}pd`, "xmm, xmm/m128", "RM", `66 0F ${h(op)} /r`);
    row(`${name}sd`, "xmm, xmm/m64", "RM", `F2 0F ${h(op)} /r`);
  }
}
sseArith("add", 0x58);
sseArith("mul", 0x59);
sseArith("sub", 0x5c);
sseArith("min", 0x5d);
sseArith("div", 0x5e);
sseArith("max", 0x5f);
sseArith("sqrt", 0x51);
sseArith("rcp", 0x53, false);
sseArith("rsqrt", 0x52, false);
for (const [name, op] of [["and", 0x54], ["andn", 0x55], ["or", 0x56], ["xor", 0x57]] as const) {
  row(`${name}ps`, "xmm, xmm/m128", "RM", `0F ${h(op)} /r`);
  row(`${name}pd`, "xmm, xmm/m128", "RM", `66 0F ${h(op)} /r`);
}
row("movups", "xmm, xmm/m128", "RM", "0F 10 /r");
row("movups", "m128, xmm", "MR", "0F 11 /r");
row("movaps", "xmm, xmm/m128", "RM", "0F 28 /r");
row("movaps", "m128, xmm", "MR", "0F 29 /r");
row("movupd", "xmm, xmm/m128", "RM", "66 0F 10 /r");
row("movupd", "m128, xmm", "MR", "66 0F 11 /r");
row("movss", "xmm, xmm/m32", "RM", "F3 0F 10 /r");
row("movss", "m32, xmm", "MR", "F3 0F 11 /r");
row("movsd", "xmm, xmm/m64", "RM", "F2 0F 10 /r");
row("movsd", "m64, xmm", "MR", "F2 0F 11 /r");
row("movntps", "m128, xmm", "MR", "0F 2B /r");
row("movhlps", "xmm, xmm", "RM", "0F 12 /r");
row("movlhps", "xmm, xmm", "RM", "0F 16 /r");
row("movlps", "xmm, m64", "RM", "0F 12 /r");
row("movlps", "m64, xmm", "MR", "0F 13 /r");
row("movhps", "xmm, m64", "RM", "0F 16 /r");
row("movhps", "m64, xmm", "MR", "0F 17 /r");
row("movd", "xmm, r/m32", "RM", "66 0F 6E /r");
row("movd", "r/m32, xmm", "MR", "66 0F 7E /r");
row("movq", "xmm, xmm/m64", "RM", "F3 0F 7E /r");
row("movq", "xmm/m64, xmm", "MR", "66 0F D6 /r");
row("movq", "xmm, r/m64", "RM", "66 REX.W 0F 6E /r");
row("movq", "r/m64, xmm", "MR", "66 REX.W 0F 7E /r");
row("movdqa", "xmm, xmm/m128", "RM", "66 0F 6F /r");
row("movdqa", "m128, xmm", "MR", "66 0F 7F /r");
row("movdqu", "xmm, xmm/m128", "RM", "F3 0F 6F /r");
row("movdqu", "m128, xmm", "MR", "F3 0F 7F /r");
row("shufps", "xmm, xmm/m128, imm8", "RMI", "0F C6 /r ib");
row("unpcklps", "xmm, xmm/m128", "RM", "0F 14 /r");
row("unpckhps", "xmm, xmm/m128", "RM", "0F 15 /r");
row("cmpps", "xmm, xmm/m128, imm8", "RMI", "0F C2 /r ib");
row("cmpss", "xmm, xmm/m32, imm8", "RMI", "F3 0F C2 /r ib");
row("ucomiss", "xmm, xmm/m32", "RM", "0F 2E /r");
row("comiss", "xmm, xmm/m32", "RM", "0F 2F /r");
row("ucomisd", "xmm, xmm/m64", "RM", "66 0F 2E /r");
row("cvtsi2ss", "xmm, r/m32", "RM", "F3 0F 2A /r");
row("cvtsi2ss", "xmm, r/m64", "RM", "F3 REX.W 0F 2A /r");
row("cvtsi2sd", "xmm, r/m32", "RM", "F2 0F 2A /r");
row("cvtsi2sd", "xmm, r/m64", "RM", "F2 REX.W 0F 2A /r");
row("cvttss2si", "r32, xmm/m32", "RM", "F3 0F 2C /r");
row("cvttss2si", "r64, xmm/m32", "RM", "F3 REX.W 0F 2C /r");
row("cvttsd2si", "r32, xmm/m64", "RM", "F2 0F 2C /r");
row("cvttsd2si", "r64, xmm/m64", "RM", "F2 REX.W 0F 2C /r");
row("cvtss2si", "r32, xmm/m32", "RM", "F3 0F 2D /r");
row("cvtss2si", "r64, xmm/m32", "RM", "F3 REX.W 0F 2D /r");
row("cvtsd2si", "r32, xmm/m64", "RM", "F2 0F 2D /r");
row("cvtsd2si", "r64, xmm/m64", "RM", "F2 REX.W 0F 2D /r");
row("cvtss2sd", "xmm, xmm/m32", "RM", "F3 0F 5A /r");
row("cvtsd2ss", "xmm, xmm/m64", "RM", "F2 0F 5A /r");
row("cvtps2pd", "xmm, xmm/m64", "RM", "0F 5A /r");
row("cvtpd2ps", "xmm, xmm/m128", "RM", "66 0F 5A /r");
row("cvtdq2ps", "xmm, xmm/m128", "RM", "0F 5B /r");
row("cvtps2dq", "xmm, xmm/m128", "RM", "66 0F 5B /r");
row("cvttps2dq", "xmm, xmm/m128", "RM", "F3 0F 5B /r");
for (
  const [name, op] of [
    ["paddd", "FE"],
    ["psubd", "FA"],
    ["paddq", "D4"],
    ["pand", "DB"],
    ["pandn", "DF"],
    ["por", "EB"],
    ["pxor", "EF"],
    ["pcmpeqd", "76"],
    ["pcmpgtd", "66"],
    ["punpckldq", "62"],
    ["punpckhdq", "6A"],
  ] as const
) row(name, "xmm, xmm/m128", "RM", `66 0F ${op} /r`);
row("pmulld", "xmm, xmm/m128", "RM", "66 0F 38 40 /r");
row("pshufd", "xmm, xmm/m128, imm8", "RMI", "66 0F 70 /r ib");
row("pslld", "xmm, imm8", "MI", "66 0F 72 /6 ib");
row("psrld", "xmm, imm8", "MI", "66 0F 72 /2 ib");
row("psrad", "xmm, imm8", "MI", "66 0F 72 /4 ib");
row("psllq", "xmm, imm8", "MI", "66 0F 73 /6 ib");
row("psrlq", "xmm, imm8", "MI", "66 0F 73 /2 ib");
row("roundps", "xmm, xmm/m128, imm8", "RMI", "66 0F 3A 08 /r ib");
row("roundss", "xmm, xmm/m32, imm8", "RMI", "66 0F 3A 0A /r ib");
row("blendvps", "xmm, xmm/m128", "RM", "66 0F 38 14 /r");
row("haddps", "xmm, xmm/m128", "RM", "F2 0F 7C /r");

// ---------------------------------------------------------------- AVX, AVX2, FMA, F16C (VEX)

for (
  const [name, op] of [
    ["add", "58"],
    ["mul", "59"],
    ["sub", "5C"],
    ["min", "5D"],
    ["div", "5E"],
    ["max", "5F"],
  ] as const
) {
  vl(`v${name}ps`, "V, V, VM", "RVM", `VEX.L.0F.WIG ${op} /r`);
  vl(`v${name}pd`, "V, V, VM", "RVM", `VEX.L.66.0F.WIG ${op} /r`);
  row(`v${name}ss`, "xmm, xmm, xmm/m32", "RVM", `VEX.LIG.F3.0F.WIG ${op} /r`);
  row(`v${name}sd`, "xmm, xmm, xmm/m64", "RVM", `VEX.LIG.F2.0F.WIG ${op} /r`);
}
for (const [name, op] of [["and", "54"], ["andn", "55"], ["or", "56"], ["xor", "57"]] as const) {
  vl(`v${name}ps`, "V, V, VM", "RVM", `VEX.L.0F.WIG ${op} /r`);
  vl(`v${name}pd`, "V, V, VM", "RVM", `VEX.L.66.0F.WIG ${op} /r`);
}
vl("vsqrtps", "V, VM", "RM", "VEX.L.0F.WIG 51 /r");
row("vsqrtss", "xmm, xmm, xmm/m32", "RVM", "VEX.LIG.F3.0F.WIG 51 /r");
vl("vrcpps", "V, VM", "RM", "VEX.L.0F.WIG 53 /r");
vl("vrsqrtps", "V, VM", "RM", "VEX.L.0F.WIG 52 /r");
vl("vhaddps", "V, V, VM", "RVM", "VEX.L.F2.0F.WIG 7C /r");
vl("vshufps", "V, V, VM, imm8", "RVMI", "VEX.L.0F.WIG C6 /r ib");
vl("vunpcklps", "V, V, VM", "RVM", "VEX.L.0F.WIG 14 /r");
vl("vunpckhps", "V, V, VM", "RVM", "VEX.L.0F.WIG 15 /r");
vl("vcmpps", "V, V, VM, imm8", "RVMI", "VEX.L.0F.WIG C2 /r ib");
row("vcmpss", "xmm, xmm, xmm/m32, imm8", "RVMI", "VEX.LIG.F3.0F.WIG C2 /r ib");
vl("vblendvps", "V, V, VM, V", "RVMS", "VEX.L.66.0F3A.W0 4A /r /is4");
vl("vblendps", "V, V, VM, imm8", "RVMI", "VEX.L.66.0F3A.WIG 0C /r ib");
vl("vroundps", "V, VM, imm8", "RMI", "VEX.L.66.0F3A.WIG 08 /r ib");
row("vroundss", "xmm, xmm, xmm/m32, imm8", "RVMI", "VEX.LIG.66.0F3A.WIG 0A /r ib");
vl("vpermilps", "V, V, VM", "RVM", "VEX.L.66.0F38.W0 0C /r");
vl("vpermilps", "V, VM, imm8", "RMI", "VEX.L.66.0F3A.W0 04 /r ib");
vl("vmovmskps", "r32, V", "RM", "VEX.L.0F.WIG 50 /r");
vl("vtestps", "V, VM", "RM", "VEX.L.66.0F38.W0 0E /r");

vl("vmovups", "V, VM", "RM", "VEX.L.0F.WIG 10 /r");
vl("vmovups", "VM, V", "MR", "VEX.L.0F.WIG 11 /r");
vl("vmovaps", "V, VM", "RM", "VEX.L.0F.WIG 28 /r");
vl("vmovaps", "VM, V", "MR", "VEX.L.0F.WIG 29 /r");
vl("vmovdqu", "V, VM", "RM", "VEX.L.F3.0F.WIG 6F /r");
vl("vmovdqu", "VM, V", "MR", "VEX.L.F3.0F.WIG 7F /r");
vl("vmovdqa", "V, VM", "RM", "VEX.L.66.0F.WIG 6F /r");
vl("vmovdqa", "VM, V", "MR", "VEX.L.66.0F.WIG 7F /r");
vl("vmovntps", "M, V", "MR", "VEX.L.0F.WIG 2B /r");
vl("vlddqu", "V, M", "RM", "VEX.L.F2.0F.WIG F0 /r");
row("vmovss", "xmm, m32", "RM", "VEX.LIG.F3.0F.WIG 10 /r");
row("vmovss", "m32, xmm", "MR", "VEX.LIG.F3.0F.WIG 11 /r");
row("vmovss", "xmm, xmm, xmm", "RVM", "VEX.LIG.F3.0F.WIG 10 /r");
row("vmovss", "xmm, xmm, xmm", "MVR", "VEX.LIG.F3.0F.WIG 11 /r");
row("vmovsd", "xmm, m64", "RM", "VEX.LIG.F2.0F.WIG 10 /r");
row("vmovsd", "m64, xmm", "MR", "VEX.LIG.F2.0F.WIG 11 /r");
row("vmovsd", "xmm, xmm, xmm", "RVM", "VEX.LIG.F2.0F.WIG 10 /r");
row("vmovsd", "xmm, xmm, xmm", "MVR", "VEX.LIG.F2.0F.WIG 11 /r");
row("vmovd", "xmm, r/m32", "RM", "VEX.128.66.0F.W0 6E /r");
row("vmovd", "r/m32, xmm", "MR", "VEX.128.66.0F.W0 7E /r");
row("vmovq", "xmm, xmm/m64", "RM", "VEX.128.F3.0F.WIG 7E /r");
row("vmovq", "xmm/m64, xmm", "MR", "VEX.128.66.0F.WIG D6 /r");
row("vmovq", "xmm, r/m64", "RM", "VEX.128.66.0F.W1 6E /r");
row("vmovq", "r/m64, xmm", "MR", "VEX.128.66.0F.W1 7E /r");
row("vmovhlps", "xmm, xmm, xmm", "RVM", "VEX.128.0F.WIG 12 /r");
row("vmovlhps", "xmm, xmm, xmm", "RVM", "VEX.128.0F.WIG 16 /r");
row("vextractps", "r/m32, xmm, imm8", "MRI", "VEX.128.66.0F3A.WIG 17 /r ib");
row("vinsertps", "xmm, xmm, xmm/m32, imm8", "RVMI", "VEX.128.66.0F3A.WIG 21 /r ib");

row("vbroadcastss", "xmm, m32", "RM", "VEX.128.66.0F38.W0 18 /r");
row("vbroadcastss", "ymm, m32", "RM", "VEX.256.66.0F38.W0 18 /r");
row("vbroadcastss", "xmm, xmm", "RM", "VEX.128.66.0F38.W0 18 /r");
row("vbroadcastss", "ymm, xmm", "RM", "VEX.256.66.0F38.W0 18 /r");
row("vbroadcastsd", "ymm, m64", "RM", "VEX.256.66.0F38.W0 19 /r");
row("vbroadcastsd", "ymm, xmm", "RM", "VEX.256.66.0F38.W0 19 /r");
row("vbroadcastf128", "ymm, m128", "RM", "VEX.256.66.0F38.W0 1A /r");
vl("vpbroadcastd", "V, xmm/m32", "RM", "VEX.L.66.0F38.W0 58 /r");
vl("vpbroadcastq", "V, xmm/m64", "RM", "VEX.L.66.0F38.W0 59 /r");

/** FMA: 132, 213 and 231 orders of one operation, packed and scalar single. */
function fma(name: string, op132: number) {
  for (const [order, add] of [["132", 0], ["213", 0x10], ["231", 0x20]] as const) {
    vl(`${name}${order}ps`, "V, V, VM", "RVM", `VEX.L.66.0F38.W0 ${h(op132 + add)} /r`);
    vl(`${name}${order}pd`, "V, V, VM", "RVM", `VEX.L.66.0F38.W1 ${h(op132 + add)} /r`);
    row(
      `${name}${order}ss`,
      "xmm, xmm, xmm/m32",
      "RVM",
      `VEX.LIG.66.0F38.W0 ${h(op132 + add + 1)} /r`,
    );
    row(
      `${name}${order}sd`,
      "xmm, xmm, xmm/m64",
      "RVM",
      `VEX.LIG.66.0F38.W1 ${h(op132 + add + 1)} /r`,
    );
    vl(
      `${name}${order}ps`,
      "V{kz}, V, VM/b32",
      "RVM",
      `EVEX.L.66.0F38.W0 ${h(op132 + add)} /r`,
      "FV",
    );
    vl(
      `${name}${order}pd`,
      "V{kz}, V, VM/b64",
      "RVM",
      `EVEX.L.66.0F38.W1 ${h(op132 + add)} /r`,
      "FV",
    );
    row(
      `${name}${order}ss`,
      "xmm{kz}, xmm, xmm/m32",
      "RVM",
      `EVEX.LIG.66.0F38.W0 ${h(op132 + add + 1)} /r`,
      "T1S",
    );
  }
}
fma("vfmadd", 0x98);
fma("vfmsub", 0x9a);
fma("vfnmadd", 0x9c);
fma("vfnmsub", 0x9e);

row("vpermps", "ymm, ymm, ymm/m256", "RVM", "VEX.256.66.0F38.W0 16 /r");
row("vpermd", "ymm, ymm, ymm/m256", "RVM", "VEX.256.66.0F38.W0 36 /r");
row("vperm2f128", "ymm, ymm, ymm/m256, imm8", "RVMI", "VEX.256.66.0F3A.W0 06 /r ib");
row("vperm2i128", "ymm, ymm, ymm/m256, imm8", "RVMI", "VEX.256.66.0F3A.W0 46 /r ib");
row("vextractf128", "xmm/m128, ymm, imm8", "MRI", "VEX.256.66.0F3A.W0 19 /r ib");
row("vinsertf128", "ymm, ymm, xmm/m128, imm8", "RVMI", "VEX.256.66.0F3A.W0 18 /r ib");
row("vextracti128", "xmm/m128, ymm, imm8", "MRI", "VEX.256.66.0F3A.W0 39 /r ib");
row("vinserti128", "ymm, ymm, xmm/m128, imm8", "RVMI", "VEX.256.66.0F3A.W0 38 /r ib");
vl("vmaskmovps", "V, V, M", "RVM", "VEX.L.66.0F38.W0 2C /r");
vl("vmaskmovps", "M, V, V", "MVR", "VEX.L.66.0F38.W0 2E /r");
vl("vpmaskmovd", "V, V, M", "RVM", "VEX.L.66.0F38.W0 8C /r");
vl("vpmaskmovd", "M, V, V", "MVR", "VEX.L.66.0F38.W0 8E /r");

for (
  const [name, op] of [
    ["vpaddd", "FE"],
    ["vpsubd", "FA"],
    ["vpaddq", "D4"],
    ["vpand", "DB"],
    ["vpandn", "DF"],
    ["vpor", "EB"],
    ["vpxor", "EF"],
    ["vpcmpeqd", "76"],
    ["vpcmpgtd", "66"],
    ["vpunpckldq", "62"],
    ["vpunpckhdq", "6A"],
  ] as const
) vl(name, "V, V, VM", "RVM", `VEX.L.66.0F.WIG ${op} /r`);
vl("vpmulld", "V, V, VM", "RVM", "VEX.L.66.0F38.WIG 40 /r");
vl("vpmaxsd", "V, V, VM", "RVM", "VEX.L.66.0F38.WIG 3D /r");
vl("vpmaxub", "V, V, VM", "RVM", "VEX.L.66.0F.WIG DE /r");
vl("vpmaxsb", "V, V, VM", "RVM", "VEX.L.66.0F38.WIG 3C /r");
vl("vpminsd", "V, V, VM", "RVM", "VEX.L.66.0F38.WIG 39 /r");
vl("vpsllvd", "V, V, VM", "RVM", "VEX.L.66.0F38.W0 47 /r");
vl("vpsrlvd", "V, V, VM", "RVM", "VEX.L.66.0F38.W0 45 /r");
vl("vpshufd", "V, VM, imm8", "RMI", "VEX.L.66.0F.WIG 70 /r ib");
vl("vpslld", "V, V, imm8", "VMI", "VEX.L.66.0F.WIG 72 /6 ib");
vl("vpsrld", "V, V, imm8", "VMI", "VEX.L.66.0F.WIG 72 /2 ib");
vl("vpsrad", "V, V, imm8", "VMI", "VEX.L.66.0F.WIG 72 /4 ib");
vl("vpsllq", "V, V, imm8", "VMI", "VEX.L.66.0F.WIG 73 /6 ib");
vl("vpsrlq", "V, V, imm8", "VMI", "VEX.L.66.0F.WIG 73 /2 ib");
vl("vcvtps2dq", "V, VM", "RM", "VEX.L.66.0F.WIG 5B /r");
vl("vcvttps2dq", "V, VM", "RM", "VEX.L.F3.0F.WIG 5B /r");
vl("vcvtdq2ps", "V, VM", "RM", "VEX.L.0F.WIG 5B /r");
vl("vpmovzxbd", "V, QM", "RM", "VEX.L.66.0F38.WIG 31 /r");
vl("vpmovsxbd", "V, QM", "RM", "VEX.L.66.0F38.WIG 21 /r");
vl("vpmovzxwd", "V, HM", "RM", "VEX.L.66.0F38.WIG 33 /r");
// 8-bit GEMMs without VNNI: bytes widened to words, pairs of word products summed to dwords.
vl("vpmovzxbw", "V, HM", "RM", "VEX.L.66.0F38.WIG 30 /r");
vl("vpmovsxbw", "V, HM", "RM", "VEX.L.66.0F38.WIG 20 /r");
vl("vpmaddwd", "V, V, VM", "RVM", "VEX.L.66.0F.WIG F5 /r");
vl("vpmaddubsw", "V, V, VM", "RVM", "VEX.L.66.0F38.WIG 04 /r");
vl("vphaddd", "V, V, VM", "RVM", "VEX.L.66.0F38.WIG 02 /r");
row("vpermq", "ymm, ymm/m256, imm8", "RMI", "VEX.256.66.0F3A.W1 00 /r ib");
// Float lanes across 128-bit halves (AVX2 max pooling puts its de-interleaved halves in order).
row("vpermpd", "ymm, ymm/m256, imm8", "RMI", "VEX.256.66.0F3A.W1 01 /r ib");
// Dwords to bytes with saturation (no vpmov[u]sdb below AVX-512): within 128-bit lanes.
vl("vpackusdw", "V, V, VM", "RVM", "VEX.L.66.0F38.WIG 2B /r");
vl("vpackuswb", "V, V, VM", "RVM", "VEX.L.66.0F.WIG 67 /r");
vl("vpackssdw", "V, V, VM", "RVM", "VEX.L.66.0F.WIG 6B /r");
vl("vpacksswb", "V, V, VM", "RVM", "VEX.L.66.0F.WIG 63 /r");
// f32 ↔ f64 vectors (weights scaled in f64 and rounded once: kernels/scale).
vl("vcvtps2pd", "V, HM", "RM", "VEX.L.0F.WIG 5A /r");
vl("vcvtpd2ps", "H, VM", "RM", "VEX.L.66.0F.WIG 5A /r");
row("vcvtps2ph", "xmm/m64, xmm, imm8", "MRI", "VEX.128.66.0F3A.W0 1D /r ib");
row("vcvtps2ph", "xmm/m128, ymm, imm8", "MRI", "VEX.256.66.0F3A.W0 1D /r ib");
row("vcvtph2ps", "xmm, xmm/m64", "RM", "VEX.128.66.0F38.W0 13 /r");
row("vcvtph2ps", "ymm, xmm/m128", "RM", "VEX.256.66.0F38.W0 13 /r");
row("vcvtsi2ss", "xmm, xmm, r/m32", "RVM", "VEX.LIG.F3.0F.W0 2A /r");
row("vcvtsi2ss", "xmm, xmm, r/m64", "RVM", "VEX.LIG.F3.0F.W1 2A /r");
row("vcvttss2si", "r32, xmm/m32", "RM", "VEX.LIG.F3.0F.W0 2C /r");
row("vcvttss2si", "r64, xmm/m32", "RM", "VEX.LIG.F3.0F.W1 2C /r");
row("vcvttsd2si", "r64, xmm/m64", "RM", "VEX.LIG.F2.0F.W1 2C /r");
row("vcvtss2sd", "xmm, xmm, xmm/m32", "RVM", "VEX.LIG.F3.0F.WIG 5A /r");
row("vcvtsd2ss", "xmm, xmm, xmm/m64", "RVM", "VEX.LIG.F2.0F.WIG 5A /r");
row("vucomiss", "xmm, xmm/m32", "RM", "VEX.LIG.0F.WIG 2E /r");
row("vzeroupper", "", "", "VEX.128.0F.WIG 77");
row("vzeroall", "", "", "VEX.256.0F.WIG 77");

// ---------------------------------------------------------------- AVX-512 (EVEX)

for (
  const [name, op] of [
    ["add", "58"],
    ["mul", "59"],
    ["sub", "5C"],
    ["min", "5D"],
    ["div", "5E"],
    ["max", "5F"],
  ] as const
) {
  vl(`v${name}ps`, "V{kz}, V, VM/b32", "RVM", `EVEX.L.0F.W0 ${op} /r`, "FV");
  vl(`v${name}pd`, "V{kz}, V, VM/b64", "RVM", `EVEX.L.66.0F.W1 ${op} /r`, "FV");
  row(`v${name}ss`, "xmm{kz}, xmm, xmm/m32", "RVM", `EVEX.LIG.F3.0F.W0 ${op} /r`, "T1S");
  row(`v${name}sd`, "xmm{kz}, xmm, xmm/m64", "RVM", `EVEX.LIG.F2.0F.W1 ${op} /r`, "T1S");
}
for (const [name, op] of [["and", "54"], ["andn", "55"], ["or", "56"], ["xor", "57"]] as const) {
  vl(`v${name}ps`, "V{kz}, V, VM/b32", "RVM", `EVEX.L.0F.W0 ${op} /r`, "FV");
  vl(`v${name}pd`, "V{kz}, V, VM/b64", "RVM", `EVEX.L.66.0F.W1 ${op} /r`, "FV");
}
vl("vsqrtps", "V{kz}, VM/b32", "RM", "EVEX.L.0F.W0 51 /r", "FV");
row("vsqrtss", "xmm{kz}, xmm, xmm/m32", "RVM", "EVEX.LIG.F3.0F.W0 51 /r", "T1S");
vl("vrcp14ps", "V{kz}, VM/b32", "RM", "EVEX.L.66.0F38.W0 4C /r", "FV");
vl("vrsqrt14ps", "V{kz}, VM/b32", "RM", "EVEX.L.66.0F38.W0 4E /r", "FV");
vl("vshufps", "V{kz}, V, VM/b32, imm8", "RVMI", "EVEX.L.0F.W0 C6 /r ib", "FV");
vl("vunpcklps", "V{kz}, V, VM/b32", "RVM", "EVEX.L.0F.W0 14 /r", "FV");
vl("vunpckhps", "V{kz}, V, VM/b32", "RVM", "EVEX.L.0F.W0 15 /r", "FV");
vl("vcmpps", "k{k}, V, VM/b32, imm8", "RVMI", "EVEX.L.0F.W0 C2 /r ib", "FV");
row("vcmpss", "k{k}, xmm, xmm/m32, imm8", "RVMI", "EVEX.LIG.F3.0F.W0 C2 /r ib", "T1S");
row("vucomiss", "xmm, xmm/m32", "RM", "EVEX.LIG.0F.W0 2E /r", "T1S");
vl("vblendmps", "V{kz}, V, VM/b32", "RVM", "EVEX.L.66.0F38.W0 65 /r", "FV");
vl("vpermilps", "V{kz}, V, VM/b32", "RVM", "EVEX.L.66.0F38.W0 0C /r", "FV");
vl("vpermilps", "V{kz}, VM/b32, imm8", "RMI", "EVEX.L.66.0F3A.W0 04 /r ib", "FV");
vl("vpermps", "V{kz}, V, VM/b32", "RVM", "EVEX.L.66.0F38.W0 16 /r", "FV", [256, 512]);
vl("vpermd", "V{kz}, V, VM/b32", "RVM", "EVEX.L.66.0F38.W0 36 /r", "FV", [256, 512]);
vl("vpermt2ps", "V{kz}, V, VM/b32", "RVM", "EVEX.L.66.0F38.W0 7F /r", "FV");
vl("vpermi2ps", "V{kz}, V, VM/b32", "RVM", "EVEX.L.66.0F38.W0 77 /r", "FV");
vl("vpermt2d", "V{kz}, V, VM/b32", "RVM", "EVEX.L.66.0F38.W0 7E /r", "FV");
vl("valignd", "V{kz}, V, VM/b32, imm8", "RVMI", "EVEX.L.66.0F3A.W0 03 /r ib", "FV");
vl("vshuff32x4", "V{kz}, V, VM/b32, imm8", "RVMI", "EVEX.L.66.0F3A.W0 23 /r ib", "FV", [256, 512]);
vl("vreduceps", "V{kz}, VM/b32, imm8", "RMI", "EVEX.L.66.0F3A.W0 56 /r ib", "FV");
vl("vrndscaleps", "V{kz}, VM/b32, imm8", "RMI", "EVEX.L.66.0F3A.W0 08 /r ib", "FV");
vl("vscalefps", "V{kz}, V, VM/b32", "RVM", "EVEX.L.66.0F38.W0 2C /r", "FV");
row("vscalefss", "xmm{kz}, xmm, xmm/m32", "RVM", "EVEX.LIG.66.0F38.W0 2D /r", "T1S");
vl("vgetexpps", "V{kz}, VM/b32", "RM", "EVEX.L.66.0F38.W0 42 /r", "FV");
vl("vgetmantps", "V{kz}, VM/b32, imm8", "RMI", "EVEX.L.66.0F3A.W0 26 /r ib", "FV");
vl("vfixupimmps", "V{kz}, V, VM/b32, imm8", "RVMI", "EVEX.L.66.0F3A.W0 54 /r ib", "FV");
vl("vrangeps", "V{kz}, V, VM/b32, imm8", "RVMI", "EVEX.L.66.0F3A.W0 50 /r ib", "FV");

vl("vmovups", "V{kz}, VM", "RM", "EVEX.L.0F.W0 10 /r", "FVM");
vl("vmovups", "M{k}, V", "MR", "EVEX.L.0F.W0 11 /r", "FVM");
vl("vmovaps", "V{kz}, VM", "RM", "EVEX.L.0F.W0 28 /r", "FVM");
vl("vmovaps", "M{k}, V", "MR", "EVEX.L.0F.W0 29 /r", "FVM");
vl("vmovdqu32", "V{kz}, VM", "RM", "EVEX.L.F3.0F.W0 6F /r", "FVM");
vl("vmovdqu32", "M{k}, V", "MR", "EVEX.L.F3.0F.W0 7F /r", "FVM");
vl("vmovdqu64", "V{kz}, VM", "RM", "EVEX.L.F3.0F.W1 6F /r", "FVM");
vl("vmovdqu64", "M{k}, V", "MR", "EVEX.L.F3.0F.W1 7F /r", "FVM");
vl("vmovdqa32", "V{kz}, VM", "RM", "EVEX.L.66.0F.W0 6F /r", "FVM");
vl("vmovdqa32", "M{k}, V", "MR", "EVEX.L.66.0F.W0 7F /r", "FVM");
vl("vmovntps", "M, V", "MR", "EVEX.L.0F.W0 2B /r", "FVM");
row("vmovss", "xmm{kz}, m32", "RM", "EVEX.LIG.F3.0F.W0 10 /r", "T1S");
row("vmovss", "m32{k}, xmm", "MR", "EVEX.LIG.F3.0F.W0 11 /r", "T1S");
row("vmovss", "xmm{kz}, xmm, xmm", "RVM", "EVEX.LIG.F3.0F.W0 10 /r");
row("vmovd", "xmm, r/m32", "RM", "EVEX.128.66.0F.W0 6E /r", "T1S");
row("vmovd", "r/m32, xmm", "MR", "EVEX.128.66.0F.W0 7E /r", "T1S");
// Unlike the VEX case, GNU as moves xmm16-31 to and from memory with the 6E/7E
// forms; the EVEX D6 store form is never its choice, so it is not in the table.
row("vmovq", "xmm, r/m64", "RM", "EVEX.128.66.0F.W1 6E /r", "T1S");
row("vmovq", "r/m64, xmm", "MR", "EVEX.128.66.0F.W1 7E /r", "T1S");
row("vmovq", "xmm, xmm/m64", "RM", "EVEX.128.F3.0F.W1 7E /r", "T1S");
row("vextractps", "r/m32, xmm, imm8", "MRI", "EVEX.128.66.0F3A.WIG 17 /r ib", "T1S");
row("vinsertps", "xmm, xmm, xmm/m32, imm8", "RVMI", "EVEX.128.66.0F3A.W0 21 /r ib", "T1S");

vl("vbroadcastss", "V{kz}, xmm/m32", "RM", "EVEX.L.66.0F38.W0 18 /r", "T1S");
vl("vbroadcastsd", "V{kz}, xmm/m64", "RM", "EVEX.L.66.0F38.W1 19 /r", "T1S", [256, 512]);
vl("vbroadcastf32x4", "V{kz}, m128", "RM", "EVEX.L.66.0F38.W0 1A /r", "T4", [256, 512]);
row("vbroadcastf32x8", "zmm{kz}, m256", "RM", "EVEX.512.66.0F38.W0 1B /r", "T8");
vl("vpbroadcastd", "V{kz}, xmm/m32", "RM", "EVEX.L.66.0F38.W0 58 /r", "T1S");
vl("vpbroadcastd", "V{kz}, r32", "RM", "EVEX.L.66.0F38.W0 7C /r");
vl("vpbroadcastq", "V{kz}, xmm/m64", "RM", "EVEX.L.66.0F38.W1 59 /r", "T1S");

vl("vextractf32x4", "xmm/m128{kz}, V, imm8", "MRI", "EVEX.L.66.0F3A.W0 19 /r ib", "T4", [256, 512]);
row("vextractf32x8", "ymm/m256{kz}, zmm, imm8", "MRI", "EVEX.512.66.0F3A.W0 1B /r ib", "T8");
vl("vinsertf32x4", "V{kz}, V, xmm/m128, imm8", "RVMI", "EVEX.L.66.0F3A.W0 18 /r ib", "T4", [
  256,
  512,
]);
row("vinsertf32x8", "zmm{kz}, zmm, ymm/m256, imm8", "RVMI", "EVEX.512.66.0F3A.W0 1A /r ib", "T8");
vl("vextracti32x4", "xmm/m128{kz}, V, imm8", "MRI", "EVEX.L.66.0F3A.W0 39 /r ib", "T4", [256, 512]);
row("vextracti32x8", "ymm/m256{kz}, zmm, imm8", "MRI", "EVEX.512.66.0F3A.W0 3B /r ib", "T8");
row("vinserti32x8", "zmm{kz}, zmm, ymm/m256, imm8", "RVMI", "EVEX.512.66.0F3A.W0 3A /r ib", "T8");

for (
  const [name, op] of [
    ["vpaddd", "FE"],
    ["vpsubd", "FA"],
    ["vpandd", "DB"],
    ["vpandnd", "DF"],
    ["vpord", "EB"],
    ["vpxord", "EF"],
  ] as const
) vl(name, "V{kz}, V, VM/b32", "RVM", `EVEX.L.66.0F.W0 ${op} /r`, "FV");
vl("vpaddq", "V{kz}, V, VM/b64", "RVM", "EVEX.L.66.0F.W1 D4 /r", "FV");
vl("vpmulld", "V{kz}, V, VM/b32", "RVM", "EVEX.L.66.0F38.W0 40 /r", "FV");
vl("vpmaxsd", "V{kz}, V, VM/b32", "RVM", "EVEX.L.66.0F38.W0 3D /r", "FV");
vl("vpminsd", "V{kz}, V, VM/b32", "RVM", "EVEX.L.66.0F38.W0 39 /r", "FV");
vl("vpsllvd", "V{kz}, V, VM/b32", "RVM", "EVEX.L.66.0F38.W0 47 /r", "FV");
vl("vpsrlvd", "V{kz}, V, VM/b32", "RVM", "EVEX.L.66.0F38.W0 45 /r", "FV");
vl("vpternlogd", "V{kz}, V, VM/b32, imm8", "RVMI", "EVEX.L.66.0F3A.W0 25 /r ib", "FV");
vl("vpshufd", "V{kz}, VM/b32, imm8", "RMI", "EVEX.L.66.0F.W0 70 /r ib", "FV");
vl("vpslld", "V{kz}, VM/b32, imm8", "VMI", "EVEX.L.66.0F.W0 72 /6 ib", "FV");
vl("vpsrld", "V{kz}, VM/b32, imm8", "VMI", "EVEX.L.66.0F.W0 72 /2 ib", "FV");
vl("vpsrad", "V{kz}, VM/b32, imm8", "VMI", "EVEX.L.66.0F.W0 72 /4 ib", "FV");
vl("vpcmpeqd", "k{k}, V, VM/b32", "RVM", "EVEX.L.66.0F.W0 76 /r", "FV");
vl("vpcmpgtd", "k{k}, V, VM/b32", "RVM", "EVEX.L.66.0F.W0 66 /r", "FV");
vl("vpcmpd", "k{k}, V, VM/b32, imm8", "RVMI", "EVEX.L.66.0F3A.W0 1F /r ib", "FV");
vl("vcvtps2dq", "V{kz}, VM/b32", "RM", "EVEX.L.66.0F.W0 5B /r", "FV");
vl("vcvttps2dq", "V{kz}, VM/b32", "RM", "EVEX.L.F3.0F.W0 5B /r", "FV");
vl("vcvtdq2ps", "V{kz}, VM/b32", "RM", "EVEX.L.0F.W0 5B /r", "FV");
vl("vcvtps2ph", "HM{kz}, V, imm8", "MRI", "EVEX.L.66.0F3A.W0 1D /r ib", "HVM");
// Narrowing dwords to bytes: truncating, unsigned- and signed-saturating.
vl("vpmovdb", "QM{kz}, V", "MR", "EVEX.L.F3.0F38.W0 31 /r", "QVM");
vl("vpmovzxbd", "V{kz}, QM", "RM", "EVEX.L.66.0F38.WIG 31 /r", "QVM");
vl("vpmovsxbd", "V{kz}, QM", "RM", "EVEX.L.66.0F38.WIG 21 /r", "QVM");
vl("vpmovzxwd", "V{kz}, HM", "RM", "EVEX.L.66.0F38.WIG 33 /r", "HVM");
vl("vpmovusdb", "QM{kz}, V", "MR", "EVEX.L.F3.0F38.W0 11 /r", "QVM");
// Bytes (AVX-512BW): an 8-bit max pool's loads, maxima and its stride-2 even bytes.
vl("vmovdqu8", "V{kz}, VM", "RM", "EVEX.L.F2.0F.W0 6F /r", "FVM");
vl("vmovdqu8", "M{k}, V", "MR", "EVEX.L.F2.0F.W0 7F /r", "FVM");
vl("vpmaxub", "V{kz}, V, VM", "RVM", "EVEX.L.66.0F.WIG DE /r", "FVM");
vl("vpmaxsb", "V{kz}, V, VM", "RVM", "EVEX.L.66.0F38.WIG 3C /r", "FVM");
vl("vpmovwb", "HM{kz}, V", "MR", "EVEX.L.F3.0F38.W0 30 /r", "HVM");
vl("vpmovsdb", "QM{kz}, V", "MR", "EVEX.L.F3.0F38.W0 21 /r", "QVM");
vl("vcvtph2ps", "V{kz}, HM", "RM", "EVEX.L.66.0F38.W0 13 /r", "HVM");
vl("vcvtps2pd", "V{kz}, HM", "RM", "EVEX.L.0F.W0 5A /r", "HV");
vl("vcvtpd2ps", "H{kz}, VM", "RM", "EVEX.L.66.0F.W1 5A /r", "FV");
row("vcvtsi2ss", "xmm, xmm, r/m32", "RVM", "EVEX.LIG.F3.0F.W0 2A /r", "T1S");
row("vcvtsi2ss", "xmm, xmm, r/m64", "RVM", "EVEX.LIG.F3.0F.W1 2A /r", "T1S");
row("vcvttss2si", "r32, xmm/m32", "RM", "EVEX.LIG.F3.0F.W0 2C /r", "T1F");
row("vcvtss2sd", "xmm{kz}, xmm, xmm/m32", "RVM", "EVEX.LIG.F3.0F.W0 5A /r", "T1S");
row("vcvtsd2ss", "xmm{kz}, xmm, xmm/m64", "RVM", "EVEX.LIG.F2.0F.W1 5A /r", "T1S");

// VNNI and BF16.
vl("vpdpbusd", "V{kz}, V, VM/b32", "RVM", "EVEX.L.66.0F38.W0 50 /r", "FV");
vl("vpdpbusds", "V{kz}, V, VM/b32", "RVM", "EVEX.L.66.0F38.W0 51 /r", "FV");
vl("vpdpwssd", "V{kz}, V, VM/b32", "RVM", "EVEX.L.66.0F38.W0 52 /r", "FV");
vl("vdpbf16ps", "V{kz}, V, VM/b32", "RVM", "EVEX.L.F3.0F38.W0 52 /r", "FV");
vl("vcvtne2ps2bf16", "V{kz}, V, VM/b32", "RVM", "EVEX.L.F2.0F38.W0 72 /r", "FV");
row("vcvtneps2bf16", "xmm{kz}, xmm/m128/b32", "RM", "EVEX.128.F3.0F38.W0 72 /r", "FV");
row("vcvtneps2bf16", "xmm{kz}, ymm/m256/b32", "RM", "EVEX.256.F3.0F38.W0 72 /r", "FV");
row("vcvtneps2bf16", "ymm{kz}, zmm/m512/b32", "RM", "EVEX.512.F3.0F38.W0 72 /r", "FV");

// Opmask instructions (VEX-encoded).
for (
  const [suffix, pp, w] of [["b", "66.", "W0"], ["w", "", "W0"], ["d", "66.", "W1"], [
    "q",
    "",
    "W1",
  ]] as const
) {
  const m = { b: "m8", w: "m16", d: "m32", q: "m64" }[suffix];
  const gp = suffix === "q" ? "r64" : "r32";
  const gpPP = suffix === "b" ? "66." : suffix === "w" ? "" : "F2.";
  const gpW = suffix === "q" ? "W1" : "W0";
  row(`kmov${suffix}`, `k, k/${m}`, "RM", `VEX.L0.${pp}0F.${w} 90 /r`);
  row(`kmov${suffix}`, `${m}, k`, "MR", `VEX.L0.${pp}0F.${w} 91 /r`);
  row(`kmov${suffix}`, `k, ${gp}`, "RM", `VEX.L0.${gpPP}0F.${gpW} 92 /r`);
  row(`kmov${suffix}`, `${gp}, k`, "RM", `VEX.L0.${gpPP}0F.${gpW} 93 /r`);
  row(`kortest${suffix}`, "k, k", "RM", `VEX.L0.${pp}0F.${w} 98 /r`);
  row(`ktest${suffix}`, "k, k", "RM", `VEX.L0.${pp}0F.${w} 99 /r`);
  row(`knot${suffix}`, "k, k", "RM", `VEX.L0.${pp}0F.${w} 44 /r`);
  for (
    const [op, code] of [
      ["and", "41"],
      ["andn", "42"],
      ["or", "45"],
      ["xnor", "46"],
      ["xor", "47"],
      ["add", "4A"],
    ] as const
  ) {
    row(`k${op}${suffix}`, "k, k, k", "RVM", `VEX.L1.${pp}0F.${w} ${code} /r`);
  }
}
row("kshiftrw", "k, k, imm8", "RMI", "VEX.L0.66.0F3A.W1 30 /r ib");
row("kshiftlw", "k, k, imm8", "RMI", "VEX.L0.66.0F3A.W1 32 /r ib");
row("kshiftrd", "k, k, imm8", "RMI", "VEX.L0.66.0F3A.W0 31 /r ib");
row("kshiftld", "k, k, imm8", "RMI", "VEX.L0.66.0F3A.W0 33 /r ib");
row("kshiftrq", "k, k, imm8", "RMI", "VEX.L0.66.0F3A.W1 31 /r ib");
row("kshiftlq", "k, k, imm8", "RMI", "VEX.L0.66.0F3A.W1 33 /r ib");

// ---------------------------------------------------------------- AMX (VEX-encoded)

row("ldtilecfg", "m", "M", "VEX.128.0F38.W0 49 /0");
row("sttilecfg", "m", "M", "VEX.128.66.0F38.W0 49 /0");
row("tilerelease", "", "", "VEX.128.0F38.W0 49 C0");
row("tilezero", "tmm", "R", "VEX.128.F2.0F38.W0 49 /r");
row("tileloadd", "tmm, sibmem", "RM", "VEX.128.F2.0F38.W0 4B /r");
row("tileloaddt1", "tmm, sibmem", "RM", "VEX.128.66.0F38.W0 4B /r");
row("tilestored", "sibmem, tmm", "MR", "VEX.128.F3.0F38.W0 4B /r");
row("tdpbf16ps", "tmm, tmm, tmm", "RMV", "VEX.128.F3.0F38.W0 5C /r", "distinct");
row("tdpbssd", "tmm, tmm, tmm", "RMV", "VEX.128.F2.0F38.W0 5E /r", "distinct");
row("tdpbsud", "tmm, tmm, tmm", "RMV", "VEX.128.F3.0F38.W0 5E /r", "distinct");
row("tdpbusd", "tmm, tmm, tmm", "RMV", "VEX.128.66.0F38.W0 5E /r", "distinct");
row("tdpbuud", "tmm, tmm, tmm", "RMV", "VEX.128.0F38.W0 5E /r", "distinct");

/** Every row of the instruction table, in order. */
export const TABLE: readonly RowSpec[] = rows;

/** The table grouped by mnemonic, each group compiled on first use. */
export const GROUPS: RowGroups = new RowGroups(TABLE);
