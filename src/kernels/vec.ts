/**
 * One vocabulary of vector operations for every instruction-set level, in the
 * spirit of oneDNN's `uni_*` helpers: a generator says "load", "broadcast",
 * "fma" and gets SSE2, AVX2+FMA or AVX-512 code (or scalar SSE for the
 * scalar level). Registers are numbered; `Vec.r(i)` maps them to xmm/ymm/zmm.
 *
 * A row's last partial vector is a "tail": AVX-512 masks it with an opmask
 * register, AVX2 with a vmaskmovps mask vector; SSE2 has neither, so its
 * generators split tails into scalar columns (width 1).
 *
 * @module
 */
import {
  type Assembler,
  cl,
  dword,
  eax,
  KREG,
  type Label,
  type Mem,
  ptr,
  rcx,
  type Reg,
  vreg,
} from "../../asm/mod.ts";
import type { IsaLevel } from "../cpu.ts";

/** The levels a vector generator targets (AMX kernels reuse avx512 for their non-tile parts). */
export type VecLevel = "scalar" | "sse2" | "avx2" | "avx512";

/** What a level offers a generator. */
export interface VecIsa {
  /** The level. */
  level: VecLevel;
  /** f32 lanes per vector register (1 at the scalar level). */
  lanes: number;
  /** Vector registers available. */
  nregs: number;
  /** Fused multiply-add available. */
  fma: boolean;
  /** Three-operand (VEX/EVEX) forms available. */
  vex: boolean;
  /** Register width in bits. */
  bits: number;
}

/** The vector level for an ISA level (amx uses avx512 for its vector parts). */
export function vecIsa(level: IsaLevel | VecLevel): VecIsa {
  switch (level) {
    case "scalar":
      return { level: "scalar", lanes: 1, nregs: 16, fma: false, vex: false, bits: 128 };
    case "sse2":
      return { level: "sse2", lanes: 4, nregs: 16, fma: false, vex: false, bits: 128 };
    case "avx2":
      return { level: "avx2", lanes: 8, nregs: 16, fma: true, vex: true, bits: 256 };
    case "avx512":
    case "amx":
      return { level: "avx512", lanes: 16, nregs: 32, fma: true, vex: true, bits: 512 };
  }
}

/**
 * A constant from the constant pool: an f32 value or a 32-bit pattern in
 * every lane, or (AVX-512) a 16-entry table, one value per lane.
 */
export type Konst = { readonly f32: number } | { readonly bits: number } | {
  readonly table: readonly number[];
};

/** A constant's identity: its 32-bit pattern, or its table's values. */
function konstKey(c: Konst): string {
  if ("table" in c) return c.table.join(",");
  if ("bits" in c) return String(c.bits | 0);
  KONST_F32[0] = c.f32;
  return String(KONST_I32[0]);
}
const KONST_F32 = new Float32Array(1);
const KONST_I32 = new Int32Array(KONST_F32.buffer);

/** A source operand: a vector register number or a constant. */
export type Src = number | Konst;

/**
 * The lane of `Vec.foldAcross16`'s result holding vector i's fold: the
 * four levels leave vector 4j + b in lane 4b + j.
 */
export function foldedLane(i: number): number {
  return 4 * (i % 4) + (i >> 2);
}

/** The constant `value` (rounded to f32) in every lane. */
export function f32(value: number): Konst {
  return { f32: value };
}

/** The 32-bit pattern `bits` in every lane. */
export function bits(value: number): Konst {
  return { bits: value | 0 };
}

/** Lane-wise float operations (x86 semantics: min/max return the second source when either is NaN). */
export type FloatOp = "add" | "sub" | "mul" | "div" | "min" | "max";

/** Lane-wise bitwise operations; `andn` is `~x & y`. */
export type BitOp = "and" | "andn" | "or" | "xor";

/**
 * Lane-wise 32-bit integer operations: `mini` the signed minimum (VEX
 * levels), `gti` all ones where x > y signed (vector masks only: below
 * AVX-512). On the bits of non-negative floats (NaN above +Inf) they order
 * as the floats do, on any of Zen 3's four FP pipes where its float min
 * and compare take the two FMA ones.
 */
export type IntOp = "addi" | "subi" | "mini" | "gti";

/** Comparison predicates (the eight of SSE; `nlt`/`nle` are true for NaN). */
export type Predicate = "eq" | "lt" | "le" | "unord" | "neq" | "nlt" | "nle" | "ord";

const PREDICATES: Record<Predicate, number> = {
  eq: 0,
  lt: 1,
  le: 2,
  unord: 3,
  neq: 4,
  nlt: 5,
  nle: 6,
  ord: 7,
};

/** A lane mask: an opmask register at AVX-512, else a vector register of all-ones/zero lanes. */
export type Mask = { readonly k: Reg } | { readonly v: number };

/** How the last, partial vector of a row is read and written. */
export interface Tail {
  /** Active lanes (1..lanes-1). */
  lanes: number;
  /** AVX-512: the opmask register; AVX2: the mask vector register number. */
  k: Reg | null;
  m: number;
}

/** Vector operations on numbered registers for one ISA level. */
export class Vec {
  /** The assembler written to. */
  readonly a: Assembler;
  /** The level. */
  readonly isa: VecIsa;
  readonly #regs: Reg[];

  /** Binds an assembler to a level. */
  constructor(a: Assembler, isa: VecIsa) {
    this.a = a;
    this.isa = isa;
    this.#regs = Array.from({ length: isa.nregs }, (_, i) => vreg(isa.bits, i));
  }

  /** The same level and pinned constants, writing to another assembler (see interleave.ts). */
  retarget(a: Assembler): Vec {
    const v = new Vec(a, this.isa);
    for (const [key, reg] of this.#pins) v.#pins.set(key, reg);
    return v;
  }

  /** Vector register `i` at the level's width. */
  r(i: number): Reg {
    const r = this.#regs[i];
    if (!r) throw new RangeError(`vector register ${i} does not exist at ${this.isa.level}`);
    return r;
  }

  /** Register `i` as xmm (for scalar operations at any level). */
  x(i: number): Reg {
    return vreg(128, i);
  }

  /**
   * Prepares a tail of `lanes` active lanes: sets opmask `k` (AVX-512) or
   * loads mask vector register `m` (AVX2). Not for SSE2 or scalar.
   */
  tail(lanes: number, k = 1, m = -1): Tail {
    const a = this.a;
    if (this.isa.level === "avx512") {
      a.emit("mov", eax, (1 << lanes) - 1);
      a.emit("kmovw", KREG[k], eax);
      return { lanes, k: KREG[k], m: -1 };
    }
    if (this.isa.level === "avx2") {
      const mask = new Int32Array(8);
      for (let i = 0; i < lanes; i++) mask[i] = -1;
      a.emit("vmovups", this.r(m), ptr(a.constant(mask, 32), 0, null, 1, 32));
      return { lanes, k: null, m };
    }
    throw new Error(`no vector tails at ${this.isa.level}: split into scalar columns`);
  }

  /**
   * A vector whose first `off` lanes are off (1..lanes-1), the rest on: the
   * first vector of a tile started `off` elements before its operands so
   * that its loads fall on whole vectors (a Tail of the upper lanes, for
   * the same masked loads and stores).
   */
  head(off: number, k = 1, m = -1): Tail {
    const a = this.a, L = this.isa.lanes;
    if (off < 1 || off >= L) throw new Error(`a head of ${off} lanes off a ${L}-lane vector`);
    if (this.isa.level === "avx512") {
      a.emit("mov", eax, ((1 << L) - 1) & ~((1 << off) - 1));
      a.emit("kmovw", KREG[k], eax);
      return { lanes: L - off, k: KREG[k], m: -1 };
    }
    if (this.isa.level === "avx2") {
      const mask = new Int32Array(8);
      for (let i = off; i < 8; i++) mask[i] = -1;
      a.emit("vmovups", this.r(m), ptr(a.constant(mask, 32), 0, null, 1, 32));
      return { lanes: L - off, k: null, m };
    }
    throw new Error(`no vector heads at ${this.isa.level}`);
  }

  /**
   * AVX-512: opmask `k` = the lowest cl lanes (cl 1..15), a tail whose
   * length is known only at run time; `scratch` (a 32-bit register) is
   * clobbered.
   */
  runTail(k: number, scratch: Reg): Tail {
    const a = this.a;
    if (this.isa.level !== "avx512") throw new Error("run-time tails: AVX-512 only");
    a.emit("mov", scratch, 1);
    a.emit("shl", scratch, cl);
    a.emit("dec", scratch);
    a.emit("kmovw", KREG[k], scratch);
    return { lanes: 0, k: KREG[k], m: -1 };
  }

  /**
   * AVX2: vector register `m` = the lowest rcx lanes (rcx 0..8, kept), a
   * tail whose length is known only at run time: 8 ints loaded from 8 − rcx
   * into [−1 ×8, 0 ×8]. `scratch` (a 64-bit register) is clobbered.
   */
  runTailVector(m: number, scratch: Reg): Tail {
    const a = this.a;
    if (this.isa.level !== "avx2") throw new Error("run-time vector tails: AVX2 only");
    const table = a.constant(new Int32Array(16).map((_, i) => (i < 8 ? -1 : 0)), 32);
    a.emit("lea", scratch, ptr(table, 32, null, 1, 8));
    a.emit("neg", rcx);
    a.emit("vmovups", this.r(m), ptr(scratch, 0, rcx, 4, 32));
    a.emit("neg", rcx);
    return { lanes: 0, k: null, m };
  }

  /**
   * AVX2: vector register `m` = the lanes from m on, where rcx holds the
   * row's byte offset into its vector (0..31, a multiple of 4; negated
   * here): 8 ints loaded from −rcx bytes past [0 ×8, −1 ×8]'s middle, the
   * first unit of a walk along vectors (columns.ts). `scratch` (a 64-bit
   * register) is clobbered.
   */
  runHeadVector(m: number, scratch: Reg): Tail {
    const a = this.a;
    if (this.isa.level !== "avx2") throw new Error("run-time vector heads: AVX2 only");
    const table = a.constant(new Int32Array(16).map((_, i) => (i >= 8 ? -1 : 0)), 32);
    a.emit("neg", rcx);
    a.emit("lea", scratch, ptr(table, 32, null, 1, 8));
    a.emit("vmovups", this.r(m), ptr(scratch, 0, rcx, 1, 32));
    return { lanes: 0, k: null, m };
  }

  /** dst = [base+disp] (full vector, or the tail's lanes with the rest zeroed). */
  load(dst: number, base: Reg, disp: number, tail?: Tail): void {
    this.loadMem(dst, ptr(base, disp), tail);
  }

  /** [base+disp] = src (full vector, or only the tail's lanes). */
  store(base: Reg, disp: number, src: number, tail?: Tail): void {
    this.storeMem(ptr(base, disp), src, tail);
  }

  /** dst = memory at `m` (any addressing; the size is set here). */
  loadMem(dst: number, m: Mem, tail?: Tail): void {
    const a = this.a;
    const l = this.isa.level;
    if (l === "scalar") return void a.emit("movss", this.x(dst), m.withSize(4));
    if (tail) {
      if (l === "avx512") return void a.emit("vmovups", this.r(dst).k(tail.k!).z, m.withSize(64));
      return void a.emit("vmaskmovps", this.r(dst), this.r(tail.m), m.withSize(32));
    }
    a.emit(this.isa.vex ? "vmovups" : "movups", this.r(dst), m.withSize(this.isa.bits / 8));
  }

  /** memory at `m` = src. */
  storeMem(m: Mem, src: number, tail?: Tail): void {
    const a = this.a;
    const l = this.isa.level;
    if (l === "scalar") return void a.emit("movss", m.withSize(4), this.x(src));
    if (tail) {
      if (l === "avx512") return void a.emit("vmovups", m.withSize(64).k(tail.k!), this.r(src));
      return void a.emit("vmaskmovps", m.withSize(32), this.r(tail.m), this.r(src));
    }
    a.emit(this.isa.vex ? "vmovups" : "movups", m.withSize(this.isa.bits / 8), this.r(src));
  }

  /**
   * [base+disp] = src by a non-temporal store (AVX2, AVX-512: the line goes
   * to memory without being read for ownership; the address must be aligned
   * to the vector, and an `sfence` must order the stores before other
   * threads read them).
   */
  storeStream(base: Reg, disp: number, src: number): void {
    if (!this.isa.vex) throw new Error(`non-temporal stores: ${this.isa.level}`);
    this.a.emit("vmovntps", ptr(base, disp).withSize(this.isa.bits / 8), this.r(src));
  }

  /** dst = the f32 at [base+disp] in every lane. */
  broadcast(dst: number, base: Reg, disp: number): void {
    this.broadcastMem(dst, dword(base, disp));
  }

  /** dst = the f32 at `m` (a dword operand) in every lane. */
  broadcastMem(dst: number, m: Mem): void {
    const a = this.a;
    const l = this.isa.level;
    if (l === "scalar") return void a.emit("movss", this.x(dst), m);
    if (l === "sse2") {
      a.emit("movss", this.x(dst), m);
      a.emit("shufps", this.x(dst), this.x(dst), 0);
      return;
    }
    a.emit("vbroadcastss", this.r(dst), m);
  }

  /** Scalar lane 0: dst = the f32 at `m` (any addressing). */
  loadScalarMem(dst: number, m: Mem): void {
    this.a.emit(this.isa.vex ? "vmovss" : "movss", this.x(dst), m.withSize(4));
  }

  /** Scalar lane 0: the f32 at `m` = src. */
  storeScalarMem(m: Mem, src: number): void {
    this.a.emit(this.isa.vex ? "vmovss" : "movss", m.withSize(4), this.x(src));
  }

  /** Scalar lane 0: dst = [base+disp]. */
  loadScalar(dst: number, base: Reg, disp: number): void {
    this.a.emit(this.isa.vex ? "vmovss" : "movss", this.x(dst), dword(base, disp));
  }

  /** Scalar lane 0: [base+disp] = src. */
  storeScalar(base: Reg, disp: number, src: number): void {
    this.a.emit(this.isa.vex ? "vmovss" : "movss", dword(base, disp), this.x(src));
  }

  /** acc += x * y. Without FMA (scalar, SSE2) it needs the scratch register `tmp`. */
  fma(acc: number, x: number, y: number, tmp: number): void {
    const a = this.a;
    const l = this.isa.level;
    if (this.isa.fma) return void a.emit("vfmadd231ps", this.r(acc), this.r(x), this.r(y));
    // movaps, not movss: a register-to-register movss merges into tmp's old
    // value, chaining every multiply-add through one dependency.
    const [mul, add] = l === "scalar" ? ["mulss", "addss"] : ["mulps", "addps"];
    a.emit("movaps", this.x(tmp), this.x(x));
    a.emit(mul, this.x(tmp), this.x(y));
    a.emit(add, this.x(acc), this.x(tmp));
  }

  /**
   * acc += x · (the f32 at [base+disp] in every lane), AVX-512 only: the
   * broadcast is the FMA's own memory operand (`{1to16}`), no register
   * holds it. One micro-op on Intel cores, where a tile whose broadcasts
   * each feed one or two FMAs runs closer to the FMA peak this way (see
   * cpu.ts, `prefersEmbeddedBroadcast`).
   */
  fmaBroadcast(acc: number, x: number, base: Reg, disp: number): void {
    if (this.isa.level !== "avx512") {
      throw new Error(`fmaBroadcast: an AVX-512 form, not ${this.isa.level}`);
    }
    this.a.emit("vfmadd231ps", this.r(acc), this.r(x), dword(base, disp).b);
  }

  /**
   * acc += x · [base+disp] (a whole vector of memory, the FMA's own operand:
   * no register holds it). Needs FMA.
   */
  fmaFrom(acc: number, x: number, base: Reg, disp: number): void {
    if (!this.isa.fma) throw new Error(`fmaFrom: needs FMA, not ${this.isa.level}`);
    this.a.emit(
      "vfmadd231ps",
      this.r(acc),
      this.r(x),
      ptr(base, disp).withSize(this.isa.lanes * 4),
    );
  }

  /** Scalar lane 0 only: acc += x * y (movss/mulss/addss or vfmadd231ss). */
  fmaScalar(acc: number, x: number, y: number, tmp: number): void {
    const a = this.a;
    if (this.isa.fma) return void a.emit("vfmadd231ss", this.x(acc), this.x(x), this.x(y));
    a.emit("movaps", this.x(tmp), this.x(x));
    a.emit("mulss", this.x(tmp), this.x(y));
    a.emit("addss", this.x(acc), this.x(tmp));
  }

  /** Scalar lane 0: dst = dst op src (VEX-encoded at the AVX levels, so no SSE/AVX transition). */
  scalarOp(op: "add" | "mul" | "max" | "min" | "sub", dst: number, src: number): void {
    if (this.isa.vex) this.a.emit(`v${op}ss`, this.x(dst), this.x(dst), this.x(src));
    else this.a.emit(`${op}ss`, this.x(dst), this.x(src));
  }

  /** dst = x * y. */
  mul(dst: number, x: number, y: number): void {
    this.#binary("mul", dst, x, y);
  }

  /** dst = x + y. */
  add(dst: number, x: number, y: number): void {
    this.#binary("add", dst, x, y);
  }

  #binary(op: "mul" | "add", dst: number, x: number, y: number): void {
    const a = this.a;
    const l = this.isa.level;
    if (this.isa.vex) return void a.emit(`v${op}ps`, this.r(dst), this.r(x), this.r(y));
    const suffix = l === "scalar" ? "ss" : "ps";
    if (dst !== x) {
      if (dst === y) return void a.emit(`${op}${suffix}`, this.x(dst), this.x(x)); // commutative
      a.emit("movaps", this.x(dst), this.x(x));
    }
    a.emit(`${op}${suffix}`, this.x(dst), this.x(y));
  }

  /**
   * f64 lanes per register (half the f32 lanes; 1 at the scalar level): the
   * double vocabulary below works on this many elements at a time.
   */
  get doubleLanes(): number {
    return this.isa.level === "scalar" ? 1 : this.isa.lanes / 2;
  }

  /**
   * dst = the f64 at `m` (a qword operand) in every lane (the scalar level:
   * lane 0).
   */
  broadcastDouble(dst: number, m: Mem): void {
    const a = this.a, l = this.isa.level;
    if (l === "scalar") return void a.emit("movsd", this.x(dst), m.withSize(8));
    if (l === "sse2") {
      a.emit("movsd", this.x(dst), m.withSize(8));
      return void a.emit("movlhps", this.x(dst), this.x(dst));
    }
    a.emit("vbroadcastsd", this.r(dst), m.withSize(8));
  }

  /**
   * dst = the `doubleLanes` (or, `one`, a single) f32s at `m` widened to f64
   * (exact).
   */
  loadWidened(dst: number, m: Mem, one = false): void {
    const a = this.a, l = this.isa.level;
    if (one || l === "scalar") {
      if (this.isa.vex) a.emit("vcvtss2sd", this.x(dst), this.x(dst), m.withSize(4));
      else a.emit("cvtss2sd", this.x(dst), m.withSize(4));
      return;
    }
    if (l === "sse2") return void a.emit("cvtps2pd", this.x(dst), m.withSize(8));
    a.emit("vcvtps2pd", this.r(dst), m.withSize(this.isa.bits / 16));
  }

  /** dst = x · y in f64 lanes (`one`: lane 0 only); dst may be x. */
  mulDoubles(dst: number, x: number, y: number, one = false): void {
    const a = this.a, l = this.isa.level, scalar = one || l === "scalar";
    const r = (i: number) => scalar ? this.x(i) : this.r(i);
    const op = scalar ? "mulsd" : "mulpd";
    if (this.isa.vex) return void a.emit(`v${op}`, r(dst), r(x), r(y));
    if (dst !== x) a.emit("movaps", this.x(dst), this.x(x));
    a.emit(op, this.x(dst), this.x(y));
  }

  /**
   * `m` = src's f64 lanes (`one`: lane 0) rounded to f32 (to nearest even,
   * as JavaScript's Float32Array stores round); src is clobbered.
   */
  storeNarrowed(m: Mem, src: number, one = false): void {
    const a = this.a, l = this.isa.level;
    if (one || l === "scalar") {
      if (this.isa.vex) {
        a.emit("vcvtsd2ss", this.x(src), this.x(src), this.x(src));
        a.emit("vmovss", m.withSize(4), this.x(src));
      } else {
        a.emit("cvtsd2ss", this.x(src), this.x(src));
        a.emit("movss", m.withSize(4), this.x(src));
      }
      return;
    }
    if (l === "sse2") {
      a.emit("cvtpd2ps", this.x(src), this.x(src));
      return void a.emit("movlps", m.withSize(8), this.x(src));
    }
    // The narrowed half: xmm (AVX2) or ymm (AVX-512) of the same number.
    const half = vreg(this.isa.bits / 2, src);
    a.emit("vcvtpd2ps", half, this.r(src));
    a.emit("vmovups", m.withSize(this.isa.bits / 16), half);
  }

  /** dst = 0. */
  zero(dst: number): void {
    if (this.isa.vex) {
      // The xmm form zeroes the whole register and has the shortest encoding.
      const r = dst < 16 ? this.x(dst) : this.r(dst);
      this.a.emit(dst < 16 ? "vxorps" : "vpxord", r, r, r);
    } else this.a.emit("xorps", this.x(dst), this.x(dst));
  }

  /** Broadcasts an f32 constant from the constant pool into every lane of dst. */
  constant(dst: number, value: number): void {
    this.broadcastMem(dst, dword(this.a.constant(new Float32Array([value]), 4)));
  }

  /** The memory operand of a constant: replicated to the width (broadcast at AVX-512). */
  konst(c: Konst): Mem {
    const a = this.a;
    if ("table" in c) return this.#tableMem(c.table);
    const lane = "f32" in c ? new Float32Array([c.f32]) : new Int32Array([c.bits]);
    if (this.isa.level === "avx512") return dword(a.constant(lane, 4)).b;
    return this.#replicated(lane);
  }

  /** The constant as one dword (for a broadcast load), or replicated below AVX-512. */
  #konstLoad(c: Konst): Mem {
    if ("table" in c) return this.#tableMem(c.table);
    const lane = "f32" in c ? new Float32Array([c.f32]) : new Int32Array([c.bits]);
    if (this.isa.level === "avx512") return dword(this.a.constant(lane, 4));
    return this.#replicated(lane);
  }

  #replicated(lane: Float32Array | Int32Array): Mem {
    const a = this.a;
    const bytes = this.isa.bits / 8;
    const data = new Int32Array(bytes / 4).fill(new Int32Array(lane.buffer)[0]);
    return ptr(a.constant(data, bytes), 0, null, 1, bytes);
  }

  #src(y: Src): Reg | Mem {
    if (typeof y === "number") return this.r(y);
    const pinned = this.pinned(y);
    return pinned >= 0 ? this.r(pinned) : this.konst(y);
  }

  readonly #pins = new Map<string, number>();
  readonly #uses = new Map<string, { c: Konst; uses: number }>();

  /** The register a constant was pinned to, or -1 (and counts the use). */
  pinned(c: Konst): number {
    const key = konstKey(c);
    const u = this.#uses.get(key);
    if (u) u.uses++;
    else this.#uses.set(key, { c, uses: 1 });
    return this.#pins.get(key) ?? -1;
  }

  /** Loads a constant into `reg` once; later uses of it read the register, not memory. */
  pin(c: Konst, reg: number): void {
    for (const [key, r] of this.#pins) {
      if (r === reg && key !== konstKey(c)) {
        throw new Error(`vector register ${reg} already holds a pinned constant`);
      }
    }
    this.move(reg, c);
    this.#pins.set(konstKey(c), reg);
  }

  /** Forgets a pinned constant (its register is the caller's again). */
  unpin(c: Konst): void {
    this.#pins.delete(konstKey(c));
  }

  /** The constants used so far, most used first (to choose which to pin). */
  constantUses(): Konst[] {
    return [...this.#uses.values()].sort((a, b) => b.uses - a.uses).map((u) => u.c);
  }

  /**
   * AVX-512: dst[i] = (lo ‖ hi)[idx[i] mod 32], two 16-entry tables read as
   * one of 32 (lo loaded into dst, then vpermt2ps with hi). dst ≠ idx.
   * With `keep` (an opmask), lanes outside it become +0.
   */
  lookupWide(dst: number, idx: number, lo: Konst, hi: Konst, keep?: Mask): void {
    if (this.isa.level !== "avx512" || dst === idx || (keep && !("k" in keep))) {
      throw new Error("lookupWide needs AVX-512, dst other than idx, and an opmask");
    }
    this.move(dst, lo);
    const to = keep ? this.r(dst).k(keep.k).z : this.r(dst);
    this.a.emit("vpermt2ps", to, this.r(idx), this.#src(hi));
  }

  /** dst = src (a register copy or a constant). */
  move(dst: number, src: Src): void {
    if (typeof src !== "number") {
      const pinned = this.pinned(src);
      if (pinned >= 0) src = pinned;
    }
    if (typeof src === "number") {
      if (src !== dst) this.a.emit(this.isa.vex ? "vmovaps" : "movaps", this.r(dst), this.r(src));
    } else if ("table" in src) this.a.emit("vmovups", this.r(dst), this.#konstLoad(src));
    // +0 in every lane is the zeroing idiom: no load, done at register renaming on Zen and Intel
    // cores (a relu epilogue loaded its zero for every output vector).
    else if (konstKey(src) === "0") this.zero(dst);
    else if (this.isa.level === "avx512") {
      this.a.emit("vbroadcastss", this.r(dst), this.#konstLoad(src));
    } else this.a.emit(this.isa.vex ? "vmovaps" : "movaps", this.r(dst), this.#konstLoad(src));
  }

  /**
   * dst = x op y, lane-wise, on full registers at every level (the scalar
   * level computes with SSE packed forms; only lane 0 is loaded and stored).
   * Without VEX, dst = y with dst ≠ x works only for commutative ops.
   */
  op(op: FloatOp | BitOp | IntOp, dst: number, x: number, y: Src): void {
    const a = this.a;
    const name = this.#opName(op);
    if (this.isa.vex) return void a.emit(`v${name}`, this.r(dst), this.r(x), this.#src(y));
    if (dst !== x) {
      if (dst === y) {
        // min/max pick an operand on NaN and ±0: not commutative in x86 terms.
        const commutative = op === "add" || op === "mul" || op === "and" || op === "or" ||
          op === "xor" || op === "addi";
        if (!commutative) throw new Error(`${op}: dst = y ≠ x needs VEX`);
        return void a.emit(name, this.r(dst), this.r(x));
      }
      a.emit("movaps", this.r(dst), this.r(x));
    }
    a.emit(name, this.r(dst), this.#src(y));
  }

  /** AVX-512 only: dst = x op y in the lanes of `keep` (an opmask); the others keep dst. */
  opWhere(keep: Mask, op: FloatOp, dst: number, x: number, y: Src): void {
    if (this.isa.level !== "avx512" || !("k" in keep)) {
      throw new Error("opWhere needs AVX-512 and an opmask");
    }
    this.a.emit(`v${this.#opName(op)}`, this.r(dst).k(keep.k), this.r(x), this.#src(y));
  }

  #opName(op: FloatOp | BitOp | IntOp): string {
    if (op === "addi") return "paddd";
    if (op === "mini") {
      if (!this.isa.vex) throw new Error("mini: pminsd is SSE4.1's (VEX levels only here)");
      return "pminsd";
    }
    if (op === "gti") {
      if (this.isa.level === "avx512") throw new Error("gti: AVX-512 compares into opmasks");
      return "pcmpgtd";
    }
    if (op === "subi") return "psubd";
    if (
      this.isa.level === "avx512" && (op === "and" || op === "andn" || op === "or" || op === "xor")
    ) {
      return `p${op}d`; // AVX512F has the dword forms; the ps forms need DQ
    }
    return `${op}ps`;
  }

  /** dst = x·y + z (fused where FMA exists; else a multiply then an add, rounded twice). */
  fmadd(dst: number, x: number, y: Src, z: Src): void {
    const a = this.a;
    if (!this.isa.fma) {
      if (typeof z === "number" && dst === z) {
        throw new Error("fmadd without FMA: dst = z needs a temporary");
      }
      this.op("mul", dst, x, y);
      return this.op("add", dst, dst, z);
    }
    const reg = (r: Src) => typeof r === "number";
    if (reg(z) && dst === z) {
      return void a.emit("vfmadd231ps", this.r(dst), this.r(x), this.#src(y));
    }
    if (reg(y) && dst === y) {
      return void a.emit("vfmadd213ps", this.r(dst), this.r(x), this.#src(z));
    }
    if (!reg(y) && !reg(z)) {
      if (dst === x) throw new Error("fmadd: dst = x with two constants needs a temporary");
      this.move(dst, y);
      return void a.emit("vfmadd213ps", this.r(dst), this.r(x), this.#src(z));
    }
    this.move(dst, x);
    // 213: dst = y·dst + z; 132: dst = dst·z + y, the memory operand last.
    if (reg(y)) return void a.emit("vfmadd213ps", this.r(dst), this.r(y as number), this.#src(z));
    a.emit("vfmadd132ps", this.r(dst), this.r(z as number), this.#src(y));
  }

  /** dst = z − x·y, fused, rounded once (FMA levels only), z and dst the same register. */
  fnmaddInto(dst: number, x: number, y: Src): void {
    if (!this.isa.fma) throw new Error("fnmadd needs FMA");
    this.a.emit("vfnmadd231ps", this.r(dst), this.r(x), this.#src(y));
  }

  /** dst = x << n or x >> n (logical "srl" or arithmetic "sra") on 32-bit lanes. */
  shift(kind: "sll" | "srl" | "sra", dst: number, x: number, n: number): void {
    const name = `p${kind}d`;
    if (this.isa.vex) return void this.a.emit(`v${name}`, this.r(dst), this.r(x), n);
    if (dst !== x) this.a.emit("movaps", this.r(dst), this.r(x));
    this.a.emit(name, this.r(dst), n);
  }

  /** dst = lanes converted: "toInt" rounds to nearest (MXCSR), "toFloat" converts int32 lanes. */
  convert(kind: "toInt" | "toFloat", dst: number, x: number): void {
    const name = kind === "toInt" ? "cvtps2dq" : "cvtdq2ps";
    this.a.emit(this.isa.vex ? `v${name}` : name, this.r(dst), this.r(x));
  }

  /** dst = x's lanes truncated toward zero to int32 (out of range and NaN: 0x80000000). */
  truncate(dst: number, x: number): void {
    this.a.emit(this.isa.vex ? "vcvttps2dq" : "cvttps2dq", this.r(dst), this.r(x));
  }

  #tableMem(values: readonly number[]): Mem {
    const bytes = this.isa.bits / 8;
    // SSE2 too (a line-aligned constant, as its packed operands need); one lane is no table.
    if (this.isa.lanes === 1 || values.length !== this.isa.lanes) {
      throw new Error(`table: ${this.isa.lanes} entries at SSE2 and up, got ${values.length}`);
    }
    return ptr(this.a.constant(new Float32Array(values), bytes), 0, null, 1, bytes);
  }

  /**
   * Loads the index vector `permute` takes for `lanes` into `idx` (AVX2 and
   * AVX-512; SSE2's permutes need none): once, before the loop that permutes.
   */
  permuteIndex(idx: number, lanes: readonly number[]): void {
    this.#checkLanes(lanes);
    if (!this.isa.vex) return;
    const bytes = this.isa.bits / 8;
    const index = ptr(this.a.constant(new Int32Array(lanes), bytes), 0, null, 1, bytes);
    this.a.emit("vmovups", this.r(idx), index);
  }

  /**
   * dst[i] = src[lanes[i]] across the whole vector: pshufd at SSE2, vpermps
   * at AVX2 and AVX-512 with `lanes`' index vector already in `idx`
   * (permuteIndex).
   */
  permute(dst: number, src: number, lanes: readonly number[], idx: number): void {
    this.#checkLanes(lanes);
    if (this.isa.vex) return void this.a.emit("vpermps", this.r(dst), this.r(idx), this.r(src));
    this.a.emit(
      "pshufd",
      this.r(dst),
      this.r(src),
      lanes.reduce((imm, l, i) => imm | (l << (2 * i)), 0),
    );
  }

  #checkLanes(lanes: readonly number[]): void {
    const L = this.isa.lanes;
    if (L === 1 || lanes.length !== L || lanes.some((l) => !(l >= 0 && l < L))) {
      throw new Error(`permute: ${L} lanes, each below ${L}, got [${lanes.join(", ")}]`);
    }
  }

  /**
   * AVX2/AVX-512: dst[i] = table[idx[i] mod lanes] (vpermps; a pinned table
   * is read from its register). AVX-512 with `keep` (an opmask): lanes
   * outside it become +0.
   *
   * AVX2 reads a table in memory by a load into dst, then the register
   * form: Zen 3 issues `vpermps ymm, ymm, m256` one every 2 cycles, the
   * load and the register form one a cycle (`deno run -A
   * bench/shuffle_rates.ts`, 12 independent chains: 1.90 and 0.97 cycles).
   * GELU at AVX2 (11 lookups a vector then, 8 since its degree-6 pieces)
   * over 393 Ki floats, with the elementwise pass's third fixed register
   * freed in the same commit
   * (`deno run -A bench/ab.ts --a 330ae79 --b 79a135d --unary gelu`, the
   * same bits): ×0.736-0.746 of the time, two runs.
   */
  lookup(dst: number, idx: number, table: Konst, keep?: Mask): void {
    if (keep && !("k" in keep)) throw new Error("lookup: the mask must be an opmask");
    const to = keep ? this.r(dst).k(keep.k).z : this.r(dst);
    const pinned = this.pinned(table);
    if (pinned >= 0) return void this.a.emit("vpermps", to, this.r(idx), this.r(pinned));
    if (this.isa.level === "avx2" && dst !== idx) {
      this.a.emit("vmovups", this.r(dst), this.konst(table));
      return void this.a.emit("vpermps", to, this.r(idx), this.r(dst));
    }
    this.a.emit("vpermps", to, this.r(idx), this.konst(table));
  }

  /** dst = √x, correctly rounded. */
  sqrt(dst: number, x: number): void {
    this.a.emit(this.isa.vex ? "vsqrtps" : "sqrtps", this.r(dst), this.r(x));
  }

  /** mask = x pred y, lane-wise. A vector mask register must not be x unless VEX. */
  compare(mask: Mask, x: number, pred: Predicate, y: Src): void {
    const a = this.a;
    const imm = PREDICATES[pred];
    if ("k" in mask) return void a.emit("vcmpps", mask.k, this.r(x), this.#src(y), imm);
    if (this.isa.vex) return void a.emit("vcmpps", this.r(mask.v), this.r(x), this.#src(y), imm);
    if (mask.v !== x) a.emit("movaps", this.r(mask.v), this.r(x));
    a.emit("cmpps", this.r(mask.v), this.#src(y), imm);
  }

  /**
   * Jumps to `label` if any lane of a vector mask is set (its sign bits, by
   * vtestps). VEX only: SSE2 has no such test without a general register,
   * and AVX-512's opmask form has no caller yet.
   */
  jumpIfAny(mask: Mask, label: Label): void {
    if ("k" in mask || !this.isa.vex) throw new Error("jumpIfAny needs VEX and a vector mask");
    this.a.emit("vtestps", this.r(mask.v), this.r(mask.v));
    this.a.emit("jnz", label);
  }

  /** Flags from lane 0 of x against lane 0 of y (ucomiss: unordered sets ZF, PF and CF). */
  compareFirstLane(x: number, y: number): void {
    this.a.emit(this.isa.vex ? "vucomiss" : "ucomiss", this.x(x), this.x(y));
  }

  /**
   * dst = mask ? t : f, lane-wise. Without VEX it needs `tmp` (distinct from
   * every operand); the mask is kept.
   */
  select(dst: number, mask: Mask, t: Src, f: number, tmp = -1): void {
    const a = this.a;
    if ("k" in mask) {
      return void a.emit("vblendmps", this.r(dst).k(mask.k), this.r(f), this.#src(t));
    }
    if (this.isa.vex) {
      return void a.emit("vblendvps", this.r(dst), this.r(f), this.#src(t), this.r(mask.v));
    }
    if (tmp < 0) throw new Error("select without VEX needs a temporary");
    // dst = f ^ ((f ^ t) & mask): one temporary, the mask and t only read.
    this.move(tmp, t);
    a.emit("xorps", this.r(tmp), this.r(f));
    a.emit("andps", this.r(tmp), this.r(mask.v));
    if (dst !== f) a.emit("movaps", this.r(dst), this.r(f));
    a.emit("xorps", this.r(dst), this.r(tmp));
  }

  /**
   * AVX-512 only: dst = x·2^⌊y⌋ with IEEE overflow, underflow and special
   * cases (vscalefps); lanes outside `keep` (an opmask) become +0.
   */
  scale2(dst: number, x: number, y: Src, keep?: Mask): void {
    if (this.isa.level !== "avx512") throw new Error("scale2 needs AVX-512");
    if (keep && !("k" in keep)) throw new Error("scale2: the mask must be an opmask");
    const to = keep ? this.r(dst).k(keep.k).z : this.r(dst);
    this.a.emit("vscalefps", to, this.r(x), this.#src(y));
  }

  /**
   * AVX-512 only: dst = min(|x|, |bound|), sign cleared (vrangeps: one
   * operation where an abs and a min take two). A NaN x gives |bound|:
   * vrangeps returns the other operand of a quiet NaN.
   */
  magnitudeAtMost(dst: number, x: number, bound: Src): void {
    if (this.isa.level !== "avx512") throw new Error("magnitudeAtMost needs AVX-512");
    // imm[1:0] 10: the smaller magnitude; imm[3:2] 10: the sign cleared.
    this.a.emit("vrangeps", this.r(dst), this.r(x), this.#src(bound), 0b1010);
  }

  /**
   * AVX-512 only: dst's bits where `mask` has a 0, `from`'s where it has a 1
   * (vpternlogd: one operation where an and and an or take two).
   */
  blendBits(dst: number, from: number, mask: Src): void {
    if (this.isa.level !== "avx512") throw new Error("blendBits needs AVX-512");
    // Truth table of (dst, from, mask) → mask ? from : dst.
    this.a.emit("vpternlogd", this.r(dst), this.r(from), this.#src(mask), 0xd8);
  }

  /** AVX-512 only: dst = x rounded to the nearest integer (ties to even), as a float. */
  roundNearest(dst: number, x: number): void {
    if (this.isa.level !== "avx512") throw new Error("roundNearest needs AVX-512");
    this.a.emit("vrndscaleps", this.r(dst), this.r(x), 8);
  }

  /**
   * Every lane of x becomes op over all its lanes (a fixed order: halves,
   * then quarters, ..., so the result is the same on every call). tmp is
   * clobbered.
   */
  reduceAll(op: "add" | "max" | "min", x: number, tmp: number): void {
    const a = this.a, l = this.isa.level;
    if (l === "scalar") return;
    const fold = () => this.op(op, x, x, tmp);
    if (l === "avx512") {
      a.emit("vshuff32x4", this.r(tmp), this.r(x), this.r(x), 0x4e);
      fold();
      a.emit("vshuff32x4", this.r(tmp), this.r(x), this.r(x), 0xb1);
      fold();
    } else if (l === "avx2") {
      a.emit("vperm2f128", this.r(tmp), this.r(x), this.r(x), 0x01);
      fold();
    }
    for (const imm of [0x4e, 0xb1]) {
      if (this.isa.vex) a.emit("vpermilps", this.r(tmp), this.r(x), imm);
      else {
        a.emit("movaps", this.r(tmp), this.r(x));
        a.emit("shufps", this.r(tmp), this.r(tmp), imm);
      }
      fold();
    }
  }

  /**
   * AVX-512: 16 vectors folded across their lanes at once, vector i's
   * result in lane `foldedLane(i)` of the register returned (`regs[0]`;
   * all of `regs` are overwritten). Each lane pairs as reduceAll's do —
   * lanes 8 apart, then 4, 2, 1, the lower lane first — so each result has
   * reduceAll's bits. Each level halves the vectors: a shuffle of each
   * pair's low halves, one of their high halves (into the pair's second),
   * and the op; 45 instructions in four levels where 16 reduceAll take 128
   * in 16 chains of 8. `tmp` is scratch.
   */
  foldAcross16(op: "add" | "max", regs: readonly number[], tmp: number): number {
    if (this.isa.level !== "avx512" || regs.length !== 16) {
      throw new Error(`foldAcross16: 16 AVX-512 vectors, got ${regs.length} at ${this.isa.level}`);
    }
    const a = this.a;
    // Level: [shuffle, imm of the low halves, imm of the high halves] (vshuff32x4 picks 128-bit
    // blocks of its two sources, vshufps lanes within each block).
    const levels: [string, number, number][] = [
      ["vshuff32x4", 0x44, 0xee], // blocks 0-1 | 2-3 of each: lanes 8 apart
      ["vshuff32x4", 0x88, 0xdd], // blocks 0, 2 | 1, 3: lanes 4 apart
      ["vshufps", 0x44, 0xee], // lanes 0-1 | 2-3 of each block: 2 apart
      ["vshufps", 0x88, 0xdd], // lanes 0, 2 | 1, 3: 1 apart
    ];
    let level = [...regs];
    for (const [shuffle, lo, hi] of levels) {
      const next: number[] = [];
      for (let p = 0; p < level.length; p += 2) {
        const x = level[p], y = level[p + 1];
        a.emit(shuffle, this.r(tmp), this.r(x), this.r(y), lo);
        a.emit(shuffle, this.r(y), this.r(x), this.r(y), hi);
        this.op(op, x, tmp, y);
        next.push(x);
      }
      level = next;
    }
    return level[0];
  }

  /**
   * dst = the tail's lanes from memory, `fill` in the others (AVX2 needs
   * `tmp` for the fill).
   */
  loadFilled(dst: number, base: Reg, disp: number, tail: Tail, fill: Konst, tmp = -1): void {
    if (this.isa.level === "avx512") {
      this.move(dst, fill);
      return void this.a.emit("vmovups", this.r(dst).k(tail.k!), ptr(base, disp, null, 1, 64));
    }
    this.load(dst, base, disp, tail);
    this.move(tmp, fill);
    this.select(dst, { v: tail.m }, dst, tmp);
  }

  /** Lanes outside the tail become +0. */
  zeroOutside(dst: number, tail: Tail): void {
    if (this.isa.level === "avx512") {
      return void this.a.emit("vmovaps", this.r(dst).k(tail.k!).z, this.r(dst));
    }
    this.a.emit("vandps", this.r(dst), this.r(dst), this.r(tail.m));
  }

  /** Clears the upper register state before returning to code that may use SSE. */
  leave(): void {
    if (this.isa.vex) this.a.emit("vzeroupper");
  }
}
