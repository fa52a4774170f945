/**
 * Operands: registers, memory references, labels. Immediates are plain numbers
 * (or bigints for 64-bit values beyond 2^53).
 *
 * Each register and memory operand carries a class bit set (`cls`); a table
 * row accepts an operand when their bits meet. That keeps matching to a few
 * integer ANDs per operand.
 *
 * @module
 */
import { AssemblerError } from "./errors.ts";

/** Operand class bits, shared by operands and table rows. */
export const C = {
  GP8: 1 << 0, // al..bl, spl..dil, r8b..r15b
  GP8H: 1 << 1, // ah, ch, dh, bh: no REX possible
  GP16: 1 << 2,
  GP32: 1 << 3,
  GP64: 1 << 4,
  XMM: 1 << 5, // xmm0-15
  XMMH: 1 << 6, // xmm16-31 (EVEX only)
  YMM: 1 << 7,
  YMMH: 1 << 8,
  ZMM: 1 << 9, // zmm0-31
  K: 1 << 10,
  TMM: 1 << 11,
  // Fixed registers some forms name (accumulator short forms, shift counts).
  ACC: 1 << 12, // al, ax, eax, rax
  CL: 1 << 13,
  // Memory by size; MANY marks a memory operand written without a size.
  M8: 1 << 14,
  M16: 1 << 15,
  M32: 1 << 16,
  M64: 1 << 17,
  M128: 1 << 18,
  M256: 1 << 19,
  M512: 1 << 20,
  MANY: 1 << 21,
  B32: 1 << 22, // {1toN} broadcast of a dword
  B64: 1 << 23, // {1toN} broadcast of a qword
  IMM: 1 << 24,
  REL: 1 << 25, // a label as a jump/call target
  ONE: 1 << 26, // the immediate 1 (shift by one)
  // Decorations, so the matcher can reject them with bit tests.
  MASKED: 1 << 27, // {k1}..{k7} on a register or memory destination
  ZEROED: 1 << 28, // {z}
  BN: 1 << 29, // a broadcast with its element count written out: {1to16}
} as const;

/** Decoration bits a row must accept explicitly. */
export const C_DECOR = C.MASKED | C.ZEROED;

/** Every memory size class. */
export const C_MEM = C.M8 | C.M16 | C.M32 | C.M64 | C.M128 | C.M256 | C.M512;

/** Register families. */
export type RegKind =
  | "gp8"
  | "gp8h"
  | "gp16"
  | "gp32"
  | "gp64"
  | "xmm"
  | "ymm"
  | "zmm"
  | "k"
  | "tmm"
  | "rip";

const KIND_BITS: Record<RegKind, number> = {
  gp8: 8,
  gp8h: 8,
  gp16: 16,
  gp32: 32,
  gp64: 64,
  xmm: 128,
  ymm: 256,
  zmm: 512,
  k: 64,
  tmm: 8192,
  rip: 64,
};

/** A register, possibly decorated with an opmask `{k}` and zeroing `{z}`. */
export class Reg {
  /** Name as written in Intel syntax, without decorations. */
  readonly name: string;
  /** Register family. */
  readonly kind: RegKind;
  /** Number within the family, 0-31. */
  readonly id: number;
  /** Width in bits. */
  readonly bits: number;
  /** Class bits for table matching. */
  readonly cls: number;
  /** Opmask register number for `{k1}`..`{k7}`, 0 for none. */
  readonly mask: number;
  /** Zeroing-masking `{z}`. */
  readonly zero: boolean;
  /** True for spl/bpl/sil/dil: these exist only with a REX prefix. */
  readonly rexOnly: boolean;
  /** The undecorated register. */
  readonly plain: Reg;
  #masked: Reg[] | undefined;

  /** @internal use the exported register constants. */
  constructor(name: string, kind: RegKind, id: number, plain?: Reg, mask = 0, zero = false) {
    this.name = name;
    this.kind = kind;
    this.id = id;
    this.bits = KIND_BITS[kind];
    this.mask = mask;
    this.zero = zero;
    this.plain = plain ?? this;
    this.rexOnly = kind === "gp8" && id >= 4 && id <= 7;
    let cls = 0;
    switch (kind) {
      case "gp8":
        cls = C.GP8 | (id === 0 ? C.ACC : 0) | (id === 1 ? C.CL : 0);
        break;
      case "gp8h":
        cls = C.GP8H;
        break;
      case "gp16":
        cls = C.GP16 | (id === 0 ? C.ACC : 0);
        break;
      case "gp32":
        cls = C.GP32 | (id === 0 ? C.ACC : 0);
        break;
      case "gp64":
        cls = C.GP64 | (id === 0 ? C.ACC : 0);
        break;
      case "xmm":
        cls = id < 16 ? C.XMM : C.XMMH;
        break;
      case "ymm":
        cls = id < 16 ? C.YMM : C.YMMH;
        break;
      case "zmm":
        cls = C.ZMM;
        break;
      case "k":
        cls = C.K;
        break;
      case "tmm":
        cls = C.TMM;
        break;
    }
    this.cls = cls | (mask ? C.MASKED : 0) | (zero ? C.ZEROED : 0);
  }

  /** This register with merge-masking by opmask `k` (k1..k7): `zmm0{k1}`. */
  k(k: Reg): Reg {
    if (k.kind !== "k" || k.id === 0) {
      throw new AssemblerError(this.name, `mask must be one of k1..k7, got ${k.name}`);
    }
    return this.#variant(k.id, this.zero);
  }

  /** This register with zeroing-masking: `zmm0{k1}{z}`. */
  get z(): Reg {
    return this.#variant(this.mask, true);
  }

  #variant(mask: number, zero: boolean): Reg {
    const base = this.plain;
    base.#masked ??= [];
    const slot = mask * 2 + (zero ? 1 : 0);
    return base.#masked[slot] ??= mask === 0 && !zero
      ? base
      : new Reg(base.name, base.kind, base.id, base, mask, zero);
  }

  /** Intel-syntax text, with decorations. */
  toString(): string {
    return this.name + (this.mask ? `{k${this.mask}}` : "") + (this.zero ? "{z}" : "");
  }
}

function family(kind: RegKind, names: readonly string[]): Reg[] {
  return names.map((n, i) => new Reg(n, kind, i));
}
const range = (prefix: string, n: number, suffix = "") =>
  Array.from({ length: n }, (_, i) => `${prefix}${i}${suffix}`);

/** 64-bit general registers by number. */
export const GP64: readonly Reg[] = family("gp64", [
  "rax",
  "rcx",
  "rdx",
  "rbx",
  "rsp",
  "rbp",
  "rsi",
  "rdi",
  ...range("r", 8).map((_, i) => `r${i + 8}`),
]);
/** 32-bit general registers by number. */
export const GP32: readonly Reg[] = family("gp32", [
  "eax",
  "ecx",
  "edx",
  "ebx",
  "esp",
  "ebp",
  "esi",
  "edi",
  ...range("r", 8).map((_, i) => `r${i + 8}d`),
]);
/** 16-bit general registers by number. */
export const GP16: readonly Reg[] = family("gp16", [
  "ax",
  "cx",
  "dx",
  "bx",
  "sp",
  "bp",
  "si",
  "di",
  ...range("r", 8).map((_, i) => `r${i + 8}w`),
]);
/** 8-bit general registers by number (4-7 are spl, bpl, sil, dil). */
export const GP8: readonly Reg[] = family("gp8", [
  "al",
  "cl",
  "dl",
  "bl",
  "spl",
  "bpl",
  "sil",
  "dil",
  ...range("r", 8).map((_, i) => `r${i + 8}b`),
]);
/** The legacy high-byte registers ah, ch, dh, bh (numbers 4-7). */
export const GP8H: readonly Reg[] = ["ah", "ch", "dh", "bh"].map((n, i) =>
  new Reg(n, "gp8h", i + 4)
);
/** xmm0-xmm31. */
export const XMM: readonly Reg[] = family("xmm", range("xmm", 32));
/** ymm0-ymm31. */
export const YMM: readonly Reg[] = family("ymm", range("ymm", 32));
/** zmm0-zmm31. */
export const ZMM: readonly Reg[] = family("zmm", range("zmm", 32));
/** Opmask registers k0-k7. */
export const KREG: readonly Reg[] = family("k", range("k", 8));
/** AMX tile registers tmm0-tmm7. */
export const TMM: readonly Reg[] = family("tmm", range("tmm", 8));
/** The instruction pointer, usable only as a memory base. */
export const rip: Reg = new Reg("rip", "rip", 0);

// Named registers for generator code.
/** rax */
export const rax: Reg = GP64[0];
/** rcx */
export const rcx: Reg = GP64[1];
/** rdx */
export const rdx: Reg = GP64[2];
/** rbx */
export const rbx: Reg = GP64[3];
/** rsp */
export const rsp: Reg = GP64[4];
/** rbp */
export const rbp: Reg = GP64[5];
/** rsi */
export const rsi: Reg = GP64[6];
/** rdi */
export const rdi: Reg = GP64[7];
/** r8 */
export const r8: Reg = GP64[8];
/** r9 */
export const r9: Reg = GP64[9];
/** r10 */
export const r10: Reg = GP64[10];
/** r11 */
export const r11: Reg = GP64[11];
/** r12 */
export const r12: Reg = GP64[12];
/** r13 */
export const r13: Reg = GP64[13];
/** r14 */
export const r14: Reg = GP64[14];
/** r15 */
export const r15: Reg = GP64[15];
/** eax */
export const eax: Reg = GP32[0];
/** ecx */
export const ecx: Reg = GP32[1];
/** edx */
export const edx: Reg = GP32[2];
/** ebx */
export const ebx: Reg = GP32[3];
/** esp */
export const esp: Reg = GP32[4];
/** ebp */
export const ebp: Reg = GP32[5];
/** esi */
export const esi: Reg = GP32[6];
/** edi */
export const edi: Reg = GP32[7];
/** r8d */
export const r8d: Reg = GP32[8];
/** r9d */
export const r9d: Reg = GP32[9];
/** r10d */
export const r10d: Reg = GP32[10];
/** r11d */
export const r11d: Reg = GP32[11];
/** r12d */
export const r12d: Reg = GP32[12];
/** r13d */
export const r13d: Reg = GP32[13];
/** r14d */
export const r14d: Reg = GP32[14];
/** r15d */
export const r15d: Reg = GP32[15];
/** al */
export const al: Reg = GP8[0];
/** cl */
export const cl: Reg = GP8[1];
/** dl */
export const dl: Reg = GP8[2];
/** bl */
export const bl: Reg = GP8[3];
/** k0 */
export const k0: Reg = KREG[0];
/** k1 */
export const k1: Reg = KREG[1];
/** k2 */
export const k2: Reg = KREG[2];
/** k3 */
export const k3: Reg = KREG[3];
/** k4 */
export const k4: Reg = KREG[4];
/** k5 */
export const k5: Reg = KREG[5];
/** k6 */
export const k6: Reg = KREG[6];
/** k7 */
export const k7: Reg = KREG[7];

/** Every register by name (lower case). */
export const REGISTERS: ReadonlyMap<string, Reg> = new Map(
  [...GP64, ...GP32, ...GP16, ...GP8, ...GP8H, ...XMM, ...YMM, ...ZMM, ...KREG, ...TMM, rip].map(
    (r) => [r.name, r],
  ),
);

/** The vector register of `bits` width (128, 256, 512) and number `id`. */
export function vreg(bits: number, id: number): Reg {
  const file = bits === 512 ? ZMM : bits === 256 ? YMM : XMM;
  const r = file[id];
  if (!r) throw new AssemblerError("", `no vector register ${id} of ${bits} bits`);
  return r;
}

/** A code position, bound once with `Assembler.bind`. */
export class Label {
  /** Name used in listings. */
  readonly name: string;
  /** Byte offset once bound, -1 before. */
  offset: number = -1;
  /** @internal the assembler that made it */
  readonly owner: object;
  /** Class bits for table matching. */
  readonly cls: number = C.REL;
  #short: ShortRef | undefined;
  /** @internal use `Assembler.label()` */
  constructor(name: string, owner: object) {
    this.name = name;
    this.owner = owner;
  }
  /** True once bound. */
  get bound(): boolean {
    return this.offset >= 0;
  }
  /** This label as a jump target that must be reached with an 8-bit displacement. */
  get short(): ShortRef {
    return this.#short ??= new ShortRef(this);
  }
  /** The label name. */
  toString(): string {
    return this.name;
  }
}

/** A jump target forced to the short (rel8) form: `jmp short L1`. */
export class ShortRef {
  /** The target. */
  readonly label: Label;
  /** Class bits for table matching. */
  readonly cls: number = C.REL;
  /** @internal */
  constructor(label: Label) {
    this.label = label;
  }
  /** Intel-syntax text. */
  toString(): string {
    return `short ${this.label.name}`;
  }
}

// Memory class bits by access size in bytes (undefined: not a valid size).
const SIZE_CLASS: (number | undefined)[] = [];
SIZE_CLASS[0] = C.MANY;
SIZE_CLASS[1] = C.M8;
SIZE_CLASS[2] = C.M16;
SIZE_CLASS[4] = C.M32;
SIZE_CLASS[8] = C.M64;
SIZE_CLASS[16] = C.M128;
SIZE_CLASS[32] = C.M256;
SIZE_CLASS[64] = C.M512;

/** Size words of Intel syntax by byte count. */
export const SIZE_WORDS: Readonly<Record<number, string>> = {
  1: "byte",
  2: "word",
  4: "dword",
  8: "qword",
  16: "xmmword",
  32: "ymmword",
  64: "zmmword",
};

/** A memory reference `size ptr [base + index*scale + disp]`, optionally `{1toN}` or `{k}`. */
export class Mem {
  /** Base register (64-bit, or rip), or null. */
  readonly base: Reg | null;
  /** Index register (64-bit, not rsp), or null. */
  readonly index: Reg | null;
  /** 1, 2, 4 or 8. */
  readonly scale: number;
  /** Displacement; with a label, added to the label's address. */
  readonly disp: number;
  /** Access size in bytes, 0 when unspecified. */
  readonly size: number;
  /**
   * Embedded broadcast of one `size`-byte element: 0 none, 1 `{1toN}` with N
   * left to the instruction, or N itself as written (`{1to16}`).
   */
  readonly bcst: number;
  /** RIP-relative target, or null. */
  readonly label: Label | null;
  /** Opmask of a masked store `[mem]{k1}`, 0 for none. */
  readonly mask: number;
  /** Class bits for table matching. */
  readonly cls: number;

  /** @internal prefer {@link ptr} and the sized helpers. */
  constructor(
    base: Reg | null,
    index: Reg | null,
    scale: number,
    disp: number,
    size: number,
    bcst = 0,
    label: Label | null = null,
    mask = 0,
  ) {
    this.base = base;
    this.index = index;
    this.scale = scale;
    this.disp = disp;
    this.size = size;
    this.bcst = bcst;
    this.label = label;
    this.mask = mask;
    const cls = bcst ? (size === 4 ? C.B32 : size === 8 ? C.B64 : C.B32 | C.B64) : SIZE_CLASS[size];
    if (cls === undefined) {
      throw new AssemblerError("", `memory operand size must be 1..64 bytes, got ${size}`);
    }
    this.cls = cls | (mask ? C.MASKED : 0) | (bcst > 1 ? C.BN : 0);
    if (base && base.kind !== "gp64" && base.kind !== "rip") {
      throw new AssemblerError(
        "",
        `a memory base must be a 64-bit register or rip, got ${base.name}`,
      );
    }
    if (index) {
      if (index.kind !== "gp64") {
        throw new AssemblerError("", `a memory index must be a 64-bit register, got ${index.name}`);
      }
      if (index.id === 4) throw new AssemblerError("", "rsp cannot be an index register");
      if (base?.kind === "rip") {
        throw new AssemblerError("", "rip-relative addresses take no index");
      }
    }
    if (scale !== 1 && scale !== 2 && scale !== 4 && scale !== 8) {
      throw new AssemblerError("", `scale must be 1, 2, 4 or 8, got ${scale}`);
    }
    if (!Number.isInteger(disp) || disp < -0x80000000 || disp > 0x7fffffff) {
      throw new AssemblerError("", `displacement ${disp} does not fit in 32 signed bits`);
    }
  }

  /** The same reference with embedded broadcast `{1toN}`; N defaults to what the instruction implies. */
  bcst1toN(count = 1): Mem {
    return new Mem(this.base, this.index, this.scale, this.disp, this.size, count, this.label);
  }

  /** Alias of {@link bcst1toN}. */
  get b(): Mem {
    return this.bcst1toN();
  }

  /** The same reference as a masked store destination `[mem]{k}`. */
  k(k: Reg): Mem {
    if (k.kind !== "k" || k.id === 0) {
      throw new AssemblerError("", `mask must be one of k1..k7, got ${k.name}`);
    }
    return new Mem(
      this.base,
      this.index,
      this.scale,
      this.disp,
      this.size,
      this.bcst,
      this.label,
      k.id,
    );
  }

  /** The same reference with another access size. */
  withSize(size: number): Mem {
    return new Mem(this.base, this.index, this.scale, this.disp, size, this.bcst, this.label);
  }
}

/** An operand of an instruction. */
export type Operand = Reg | Mem | Label | ShortRef | number | bigint;

/**
 * `[base + index*scale + disp]` without a size (the instruction decides it).
 * `base` may be a register, `rip`, a {@link Label} (RIP-relative) or null.
 */
export function ptr(
  base: Reg | Label | null,
  disp = 0,
  index: Reg | null = null,
  scale = 1,
  size = 0,
): Mem {
  if (base instanceof Label) return new Mem(rip, index, scale, disp, size, 0, base);
  return new Mem(base, index, scale, disp, size);
}

/** `byte ptr [...]`. */
export function byte(base: Reg | Label | null, disp = 0, index: Reg | null = null, scale = 1): Mem {
  return ptr(base, disp, index, scale, 1);
}
/** `word ptr [...]`. */
export function word(base: Reg | Label | null, disp = 0, index: Reg | null = null, scale = 1): Mem {
  return ptr(base, disp, index, scale, 2);
}
/** `dword ptr [...]`. */
export function dword(
  base: Reg | Label | null,
  disp = 0,
  index: Reg | null = null,
  scale = 1,
): Mem {
  return ptr(base, disp, index, scale, 4);
}
/** `qword ptr [...]`. */
export function qword(
  base: Reg | Label | null,
  disp = 0,
  index: Reg | null = null,
  scale = 1,
): Mem {
  return ptr(base, disp, index, scale, 8);
}
/** `xmmword ptr [...]`. */
export function xmmword(
  base: Reg | Label | null,
  disp = 0,
  index: Reg | null = null,
  scale = 1,
): Mem {
  return ptr(base, disp, index, scale, 16);
}
/** `ymmword ptr [...]`. */
export function ymmword(
  base: Reg | Label | null,
  disp = 0,
  index: Reg | null = null,
  scale = 1,
): Mem {
  return ptr(base, disp, index, scale, 32);
}
/** `zmmword ptr [...]`. */
export function zmmword(
  base: Reg | Label | null,
  disp = 0,
  index: Reg | null = null,
  scale = 1,
): Mem {
  return ptr(base, disp, index, scale, 64);
}
