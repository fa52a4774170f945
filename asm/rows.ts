/**
 * Compiles the instruction table's text rows into the numeric form the
 * matcher and encoders read. Done once at module load.
 *
 * A row is `[mnemonic, operands, op/en, encoding, tuple?]`, in the notation of
 * the Intel SDM and asmjit's `isa_x86.json`:
 *
 * - operands: `r/m32`, `xmm/m128/b32`, `zmm{kz}`, `imm8`, `simm8` (an imm8
 *   sign-extended to the operand size), `rel32`, fixed registers (`eax`, `cl`),
 *   `1`, `sibmem` (AMX: memory that must use a SIB byte).
 * - op/en: one letter per operand: R (ModRM.reg), M (ModRM.rm), V (VEX.vvvv),
 *   I (immediate), O (register in the opcode's low bits), S (register in
 *   imm8[7:4]), J (relative target), _ (implicit, not encoded).
 * - encoding: legacy `66 REX.W 0F 1F /0 ib`, or `VEX.256.66.0F38.W0 B8 /r`,
 *   `EVEX.512.66.0F3A.W0 19 /r ib`.
 * - attributes: the EVEX tuple type (FV, HV, FVM, HVM, QVM, OVM, T1S, T1F,
 *   T2, T4, T8, M128, DUP), which sets N of the compressed disp8*N; and
 *   `distinct` where the registers must all differ.
 *
 * @module
 */
import { C, C_MEM } from "./operands.ts";

/** One row of the instruction table, as written. */
export type RowSpec = readonly [
  mnemonic: string,
  operands: string,
  opEn: string,
  encoding: string,
  attributes?: string,
];

/** Encoding spaces. */
export const LEGACY = 0, VEX = 1, EVEX = 2;

/** Operand roles (from op/en letters). */
export const ROLE = { R: 0, M: 1, V: 2, I: 3, O: 4, S: 5, J: 6, IMPLICIT: 7 } as const;

/** Immediate kinds. */
export const IMM = { NONE: 0, U8: 1, S8: 2, U16: 3, U32: 4, S32: 5, U64: 6 } as const;

/** One operand slot of a compiled row. */
export interface OperandSpec {
  /** Any of these class bits must be present. */
  accept: number;
  /** All of these class bits must be present (fixed registers). */
  require: number;
  /** Decoration bits ({k}, {z}) allowed here. */
  decor: number;
  /** Role from op/en. */
  role: number;
  /** Immediate kind for I operands. */
  imm: number;
  /** Bytes of an immediate or relative target. */
  immBytes: number;
  /** 0: no masking; 1: `{k}`; 2: `{k}` and `{z}`. */
  maskMode: number;
  /** Memory size in bytes accepted here (0 if none or any). */
  memSize: number;
  /** Token as written, for messages. */
  token: string;
}

/** A compiled row. */
export interface Row {
  /** The mnemonic it encodes. */
  mnemonic: string;
  /** The row as written, for messages and tests. */
  spec: RowSpec;
  /** Its operands' specifications, in order. */
  ops: OperandSpec[];
  /** Opcode space (map) of the encoding. */
  space: number;
  /** Legacy: mandatory/size prefixes in order. */
  prefixes: number[];
  /** REX.W (legacy) or EVEX/VEX.W. */
  w: number;
  /** True when W is "ignored" (WIG): any value would do. */
  wig: boolean;
  /** Opcode bytes (legacy: all; VEX/EVEX: the one after the prefix, plus any fixed ModRM). */
  opcode: number[];
  /** ModRM.reg digit for `/n` forms, -1 for `/r`, -2 when there is no ModRM. */
  digit: number;
  /** VEX/EVEX: 0 = 128, 1 = 256, 2 = 512. */
  l: number;
  /** VEX/EVEX pp: 0 none, 1 = 66, 2 = F3, 3 = F2. */
  pp: number;
  /** VEX/EVEX map: 1 = 0F, 2 = 0F38, 3 = 0F3A. */
  map: number;
  /** Operand size of a general-purpose form (8..64), 0 otherwise; sign-extension width. */
  opsize: number;
  /** EVEX disp8*N without broadcast. */
  n: number;
  /** EVEX disp8*N with broadcast (element size). */
  nb: number;
  /** Broadcast count N of `{1toN}` for this row, 0 if it has no broadcast form. */
  bcstCount: number;
  /** Memory operand index, or -1. */
  memIndex: number;
  /** Must the memory operand use a SIB byte (AMX sibmem)? */
  sib: boolean;
  /** Register operands must all differ (AMX tile products). */
  distinct: boolean;
  /** Some operand is an 8-bit register (spl..dil need REX, ah..bh forbid it). */
  byteRegs: boolean;
  /** Operand index by role, -1 when absent. */
  regIdx: number;
  /** Index of the ModRM r/m operand, -1 when absent. */
  rmIdx: number;
  /** Index of the VEX/EVEX vvvv operand, -1 when absent. */
  vIdx: number;
  /** Index of the register folded into the opcode, -1 when absent. */
  opregIdx: number;
  /** Index of the is4 register operand, -1 when absent. */
  is4Idx: number;
  /** Operand indexes of immediates, is4 registers and relative targets, in order. */
  tailIdx: number[];
  /** Index of the row in the table. */
  index: number;
}

const ROLE_LETTERS: Record<string, number> = {
  R: ROLE.R,
  M: ROLE.M,
  V: ROLE.V,
  I: ROLE.I,
  O: ROLE.O,
  S: ROLE.S,
  J: ROLE.J,
  _: ROLE.IMPLICIT,
};

const MEM_BY_NAME: Record<string, [number, number]> = {
  m8: [C.M8, 1],
  m16: [C.M16, 2],
  m32: [C.M32, 4],
  m64: [C.M64, 8],
  m128: [C.M128, 16],
  m256: [C.M256, 32],
  m512: [C.M512, 64],
};

const GP_BY_SIZE: Record<number, number> = {
  8: C.GP8 | C.GP8H,
  16: C.GP16,
  32: C.GP32,
  64: C.GP64,
};

function fail(spec: RowSpec, why: string): never {
  throw new Error(`instruction table row ${JSON.stringify(spec)}: ${why}`);
}

function compileOperand(
  spec: RowSpec,
  token: string,
  role: number,
  space: number,
): [OperandSpec, number] {
  let t = token.trim();
  let maskMode = 0;
  if (t.endsWith("{kz}")) {
    maskMode = 2;
    t = t.slice(0, -4);
  } else if (t.endsWith("{k}")) {
    maskMode = 1;
    t = t.slice(0, -3);
  }
  let accept = 0, require = 0, imm: number = IMM.NONE, immBytes = 0, memSize = 0, gpSize = 0;
  const xmm = space === EVEX ? C.XMM | C.XMMH : C.XMM;
  const ymm = space === EVEX ? C.YMM | C.YMMH : C.YMM;
  const parts = t.split("/");
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    switch (p) {
      case "r": {
        // r/mN: a general register of the memory part's size.
        const m = MEM_BY_NAME[parts[i + 1]];
        if (!m) fail(spec, `bad operand ${token}`);
        gpSize = m[1] * 8;
        accept |= GP_BY_SIZE[gpSize];
        break;
      }
      case "r8":
      case "r16":
      case "r32":
      case "r64":
        gpSize = Number(p.slice(1));
        accept |= GP_BY_SIZE[gpSize];
        break;
      case "al":
      case "ax":
      case "eax":
      case "rax":
        gpSize = { al: 8, ax: 16, eax: 32, rax: 64 }[p];
        accept |= GP_BY_SIZE[gpSize];
        require |= C.ACC;
        break;
      case "cl":
        accept |= C.GP8;
        require |= C.CL;
        break;
      case "xmm":
        accept |= xmm;
        break;
      case "ymm":
        accept |= ymm;
        break;
      case "zmm":
        accept |= C.ZMM;
        break;
      case "k":
        accept |= C.K;
        break;
      case "tmm":
        accept |= C.TMM;
        break;
      case "m":
      case "sibmem":
        accept |= C_MEM | C.MANY;
        break;
      case "b32":
        accept |= C.B32;
        break;
      case "b64":
        accept |= C.B64;
        break;
      case "1":
        accept |= C.ONE;
        break;
      case "imm8":
        [accept, imm, immBytes] = [accept | C.IMM, IMM.U8, 1];
        break;
      case "simm8":
        [accept, imm, immBytes] = [accept | C.IMM, IMM.S8, 1];
        break;
      case "imm16":
        [accept, imm, immBytes] = [accept | C.IMM, IMM.U16, 2];
        break;
      case "imm32":
        [accept, imm, immBytes] = [accept | C.IMM, IMM.U32, 4];
        break;
      case "simm32":
        [accept, imm, immBytes] = [accept | C.IMM, IMM.S32, 4];
        break;
      case "imm64":
        [accept, imm, immBytes] = [accept | C.IMM, IMM.U64, 8];
        break;
      case "rel8":
        [accept, immBytes] = [accept | C.REL, 1];
        break;
      case "rel32":
        [accept, immBytes] = [accept | C.REL, 4];
        break;
      default: {
        const m = MEM_BY_NAME[p];
        if (!m) fail(spec, `unknown operand kind ${p} in ${token}`);
        accept |= m[0] | C.MANY;
        memSize = m[1];
      }
    }
  }
  const decor = (maskMode >= 1 ? C.MASKED : 0) | (maskMode === 2 ? C.ZEROED : 0);
  return [
    { accept, require, decor, role, imm, immBytes, maskMode, memSize, token: t },
    gpSize,
  ];
}

const PP: Record<string, number> = { NP: 0, "66": 1, F3: 2, F2: 3 };
const MAP: Record<string, number> = { "0F": 1, "0F38": 2, "0F3A": 3 };

/** Compiles one row. */
export function compileRow(spec: RowSpec, index: number): Row {
  const [mnemonic, operandText, opEn, encoding, attributes = ""] = spec;
  const attrs = attributes.split(/\s+/).filter((x) => x !== "");
  const distinct = attrs.includes("distinct");
  const tuple = attrs.find((x) => x !== "distinct");
  const tokens = encoding.trim().split(/\s+/);
  let space = LEGACY;
  let l = 0, pp = 0, map = 0, w = 0, wig = false;
  const prefixes: number[] = [];
  let t = 0;
  if (tokens[0].startsWith("VEX.") || tokens[0].startsWith("EVEX.")) {
    const fields = tokens[0].split(".");
    space = fields[0] === "VEX" ? VEX : EVEX;
    for (const f of fields.slice(1)) {
      if (f === "128" || f === "L0" || f === "LIG" || f === "LZ") l = 0;
      else if (f === "256" || f === "L1") l = 1;
      else if (f === "512") l = 2;
      else if (f in PP) pp = PP[f];
      else if (f in MAP) map = MAP[f];
      else if (f === "W0") w = 0;
      else if (f === "W1") w = 1;
      else if (f === "WIG") wig = true;
      else fail(spec, `unknown prefix field ${f}`);
    }
    if (map === 0) fail(spec, "VEX/EVEX row needs a map (0F, 0F38, 0F3A)");
    t = 1;
  }
  const opcode: number[] = [];
  let digit = -2;
  const immTokens: string[] = [];
  for (; t < tokens.length; t++) {
    const tok = tokens[t];
    if (tok === "REX.W") w = 1;
    else if (tok === "/r") digit = -1;
    else if (/^\/[0-7]$/.test(tok)) digit = Number(tok[1]);
    else if (/^(ib|iw|id|iq|cb|cd|\/is4)$/.test(tok)) immTokens.push(tok);
    else if (/^[0-9A-F]{2}(\+r)?$/.test(tok)) {
      const byte = parseInt(tok.slice(0, 2), 16);
      if (
        space === LEGACY && opcode.length === 0 &&
        (byte === 0x66 || byte === 0xf2 || byte === 0xf3) &&
        t + 1 < tokens.length && !tokens[t + 1].startsWith("/")
      ) prefixes.push(byte);
      else opcode.push(byte);
    } else fail(spec, `unknown encoding token ${tok}`);
  }
  if (opcode.length === 0) fail(spec, "no opcode");

  const operandTokens = operandText.trim() === "" ? [] : operandText.split(",");
  if (opEn.length !== operandTokens.length) {
    fail(spec, `op/en ${opEn} does not name each of ${operandTokens.length} operands`);
  }
  const ops: OperandSpec[] = [];
  let opsize = 0;
  let memIndex = -1;
  let sib = false;
  for (let i = 0; i < operandTokens.length; i++) {
    const role = ROLE_LETTERS[opEn[i]];
    if (role === undefined) fail(spec, `unknown op/en letter ${opEn[i]}`);
    const [op, gpSize] = compileOperand(spec, operandTokens[i], role, space);
    if (gpSize && !opsize) opsize = gpSize;
    if (op.accept & (C_MEM | C.MANY)) memIndex = i;
    if (operandTokens[i].includes("sibmem")) sib = true;
    ops.push(op);
  }
  // Immediate widths come from the encoding's ib/iw/id/iq/cb/cd tokens, in order.
  let k = 0;
  for (const op of ops) {
    if (op.role !== ROLE.I && op.role !== ROLE.J && op.role !== ROLE.S) continue;
    const tok = immTokens[k++];
    if (tok === undefined) fail(spec, "operand without immediate in the encoding");
    const bytes = { ib: 1, iw: 2, id: 4, iq: 8, cb: 1, cd: 4, "/is4": 1 }[tok]!;
    if (op.role === ROLE.S) op.immBytes = 1;
    else if (op.immBytes !== bytes) {
      fail(spec, `immediate ${op.token} does not fit encoding ${tok}`);
    }
  }
  if (k !== immTokens.length) fail(spec, "encoding names more immediates than the operands");
  if (space === LEGACY && opsize === 16 && !prefixes.includes(0x66)) {
    fail(spec, "16-bit form must list the 66 prefix");
  }

  // EVEX disp8*N from the tuple type.
  let n = 1, nb = 1, bcstCount = 0;
  const vl = 16 << l;
  const elem = w ? 8 : 4;
  const memSize = memIndex >= 0 ? ops[memIndex].memSize : 0;
  if (space === EVEX && memIndex >= 0) {
    switch (tuple) {
      case "FV":
        n = vl;
        nb = elem;
        break;
      case "HV":
        n = vl / 2;
        nb = 4;
        break;
      case "FVM":
        n = vl;
        break;
      case "HVM":
        n = vl / 2;
        break;
      case "QVM":
        n = vl / 4;
        break;
      case "OVM":
        n = vl / 8;
        break;
      case "T1S":
      case "T1F":
        n = memSize;
        break;
      case "T2":
        n = 2 * elem;
        break;
      case "T4":
        n = 4 * elem;
        break;
      case "T8":
        n = 8 * elem;
        break;
      case "M128":
        n = 16;
        break;
      case "DUP":
        n = vl === 16 ? 8 : vl;
        break;
      default:
        fail(spec, `EVEX row with memory needs a tuple type, got ${tuple}`);
    }
    const m = ops[memIndex];
    if (m.accept & (C.B32 | C.B64)) bcstCount = vl / nb;
    if (n === 0) fail(spec, "disp8*N is zero");
  }
  const roleIdx = (role: number) => ops.findIndex((o) => o.role === role);
  return {
    byteRegs: ops.some((o) => (o.accept & (C.GP8 | C.GP8H)) !== 0),
    regIdx: roleIdx(ROLE.R),
    rmIdx: roleIdx(ROLE.M),
    vIdx: roleIdx(ROLE.V),
    opregIdx: roleIdx(ROLE.O),
    is4Idx: roleIdx(ROLE.S),
    tailIdx: ops.map((o, i) => [o.role, i]).filter(([r]) =>
      r === ROLE.I || r === ROLE.S || r === ROLE.J
    )
      .map(([, i]) => i),
    mnemonic,
    spec,
    ops,
    space,
    prefixes,
    w,
    wig,
    opcode,
    digit,
    l,
    pp,
    map,
    opsize,
    n,
    nb,
    bcstCount,
    memIndex,
    sib,
    distinct,
    index,
  };
}

/**
 * A table grouped by mnemonic, each group compiled on first use: compiling
 * all ~1,900 rows was part of every process's `import` (its largest piece
 * of JavaScript in a CPU profile), where a kernel uses a few dozen
 * mnemonics; `bench/create_from_file.ts` times the import. Within a group VEX/legacy rows come
 * before EVEX ones, then the table's order (its preference order).
 */
export class RowGroups {
  readonly #specs: readonly RowSpec[];
  readonly #indices = new Map<string, number[]>();
  readonly #compiled = new Map<string, Row[]>();

  /** Groups `specs` by mnemonic (their first field); nothing compiled yet. */
  constructor(specs: readonly RowSpec[]) {
    this.#specs = specs;
    specs.forEach((spec, i) => {
      const list = this.#indices.get(spec[0]);
      if (list) list.push(i);
      else this.#indices.set(spec[0], [i]);
    });
  }

  /** How many mnemonics. */
  get size(): number {
    return this.#indices.size;
  }

  /** Whether the table has `mnemonic`. */
  has(mnemonic: string): boolean {
    return this.#indices.has(mnemonic);
  }

  /** The compiled rows of `mnemonic` (compiled now if first asked), or undefined. */
  get(mnemonic: string): Row[] | undefined {
    const done = this.#compiled.get(mnemonic);
    if (done) return done;
    const indices = this.#indices.get(mnemonic);
    if (!indices) return undefined;
    const rows = indices.map((i) => compileRow(this.#specs[i], i));
    // Stable: the table's order within a space is the preference order.
    rows.sort((a, b) =>
      (a.space === EVEX ? 1 : 0) - (b.space === EVEX ? 1 : 0) || a.index - b.index
    );
    this.#compiled.set(mnemonic, rows);
    return rows;
  }

  /** The mnemonics, in table order of first appearance. */
  keys(): IterableIterator<string> {
    return this.#indices.keys();
  }

  /** Every group, compiled (the whole table: for tests and tools). */
  values(): Row[][] {
    return [...this.#indices.keys()].map((m) => this.get(m)!);
  }
}
