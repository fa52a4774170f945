/**
 * The shape of a row of `cols` floats at one ISA level, and the loop over
 * it shared by the row-wise families (softmax, norm, reduce): whole
 * vectors, then the tail (a masked vector at AVX2/AVX-512, whose AVX2 mask
 * takes the last vector register; single elements at SSE2 and scalar).
 * And reads along cache lines: rows of whole vectors with their own
 * vectors for sums (LineReads), rows of any length for elementwise work
 * and exact reductions (emitAlongLines).
 *
 * @module
 */
import {
  type Assembler,
  byte,
  cl,
  eax,
  ecx,
  KREG,
  type Label,
  ptr,
  r11,
  rax,
  rcx,
  type Reg,
} from "../../asm/mod.ts";
import { emitInterleaved } from "./interleave.ts";
import { addImmediate, countedLoop } from "./abi.ts";
import type { Tail, Vec } from "./vec.ts";

/** A row's vectors and tail at a level. */
export interface RowShape {
  /** Bytes of one vector. */
  vectorBytes: number;
  /** Whole vectors. */
  full: number;
  /** Elements after them (0 to lanes − 1). */
  rest: number;
  /** The AVX2 tail's mask register, or −1. */
  maskReg: number;
  /** Vector registers other than the mask register. */
  registers: number[];
}

/** The shape of a row of `cols` at v's level. */
export function rowShape(v: Vec, cols: number): RowShape {
  const L = v.isa.lanes;
  const rest = cols % L;
  const maskReg = v.isa.level === "avx2" && rest ? v.isa.nregs - 1 : -1;
  const registers: number[] = [];
  for (let r = 0; r < v.isa.nregs; r++) if (r !== maskReg) registers.push(r);
  return { vectorBytes: L * 4, full: (cols - rest) / L, rest, maskReg, registers };
}

/** Prepares the row's tail mask (null at SSE2 and scalar, or without a tail). */
export function rowTail(v: Vec, shape: RowShape): Tail | null {
  const l = v.isa.level;
  return shape.rest && (l === "avx512" || l === "avx2")
    ? v.tail(shape.rest, 1, shape.maskReg)
    : null;
}

/** Where an element of the loop is. */
export type ColumnKind = "vector" | "tail" | "scalar";

/**
 * A loop over a row: `body(disp, u, kind)` for vector u of each step of
 * `step` vectors (`index` the byte offset of the step, counted by
 * `counter`), then the remaining vectors, then the tail.
 */
export function emitColumns(
  a: Assembler,
  shape: RowShape,
  tail: Tail | null,
  step: number,
  index: Reg,
  counter: Reg,
  body: (disp: number, u: number, kind: ColumnKind) => void,
): void {
  const VB = shape.vectorBytes;
  a.emit("xor", index, index);
  const steps = Math.floor(shape.full / step);
  countedLoop(a, counter, steps, () => {
    for (let u = 0; u < step; u++) body(u * VB, u, "vector");
    addImmediate(a, "add", index, step * VB);
  });
  const left = shape.full - steps * step;
  for (let u = 0; u < left; u++) body(u * VB, u, "vector");
  if (tail) body(left * VB, 0, "tail");
  else for (let j = 0; j < shape.rest; j++) body(left * VB + j * 4, 0, "scalar");
}

/** Where a vector of a row read along its cache lines is (see LineReads). */
export type LineKind = "first" | "vector" | "last";

/**
 * AVX-512 reads of rows of whole vectors along the cache lines of their
 * base rather than from each row's start, for rows that start m floats
 * (1..15) into a line and lie whole lines apart (cols a multiple of 16): a
 * vector across two lines costs two loads or stores, and rows read that way
 * stream from L3 or memory ~1.1-1.5× slower (layerNorm 4096×768, sums of
 * 16 Mi floats). Line k = 0..full holds the row's elements 16k − m …
 * 16k − m + 15, the first only in its lanes m and up, the last only below
 * m; each of the row's own vectors (for sums whose bits depend on which
 * lane an element is in) is formed from two lines by one `vpermt2ps`.
 * Elementwise work needs no permute: it reads and writes at the lines.
 */
export class LineReads {
  /** The registers of lines k − 1 and k (by k's parity), or null (masks only). */
  readonly lines: readonly [number, number] | null;
  /** The permute's index register (m, m + 1, ..., m + 15), or −1 (masks only). */
  readonly index: number;
  /** The row's first line (lanes m and up) and last (lanes below m), set by `setup`. */
  readonly first: Tail;
  readonly last: Tail;
  readonly #v: Vec;

  /**
   * Two opmasks (numbers), and for the row's own vectors three vector
   * registers (two lines, the index), free wherever lines are read;
   * elementwise work along lines needs the masks only.
   */
  constructor(
    v: Vec,
    registers: { lines: [number, number]; index: number } | null,
    masks: [number, number] = [2, 3],
  ) {
    this.#v = v;
    this.lines = registers?.lines ?? null;
    this.index = registers?.index ?? -1;
    this.first = { lanes: 0, k: KREG[masks[0]], m: -1 }; // lanes set at run time
    this.last = { lanes: 0, k: KREG[masks[1]], m: -1 };
  }

  /**
   * Jumps to `aligned` when `base` starts on a line; else sets the masks and
   * the index from its offset m (rax and rcx clobbered). With `aligned`
   * null a base on a line is read along lines too: m = 0, the first line
   * whole and the last one (past the row) empty.
   */
  setup(base: Reg, aligned: Label | null): void {
    this.setMasks(base, aligned);
    this.#indexOfRcx();
  }

  /** `setup` without the index: the masks only, m left in rcx. */
  setMasks(base: Reg, aligned: Label | null): void {
    const v = this.#v, a = v.a;
    a.emit("mov", rcx, base);
    a.emit("and", rcx, 63);
    if (aligned) a.emit("jz", aligned);
    a.emit("shr", rcx, 2);
    v.runTail(this.last.k!.id, eax); // lanes below m
    a.emit("not", eax);
    a.emit("kmovw", this.first.k!, eax); // lanes m and up
  }

  /** Sets the index from `base`'s offset m (again, after code that used its register), m left in rcx. */
  setIndex(base: Reg): void {
    const a = this.#v.a;
    a.emit("mov", rcx, base);
    a.emit("and", rcx, 63);
    a.emit("shr", rcx, 2);
    this.#indexOfRcx();
  }

  /** The index m, m + 1, ..., m + 15 from m in rcx. */
  #indexOfRcx(): void {
    if (this.index < 0) throw new Error("line reads: no index register");
    emitShiftIndex(this.#v, this.index, ecx);
  }

  /**
   * The code twice: `body(true)` when `base` starts off a line (the masks,
   * and the index unless `masksOnly`, set first), `body(false)` when it
   * starts on one. rax and rcx are clobbered before either.
   */
  emitBothWays(
    base: Reg,
    body: (alongLines: boolean) => void,
    options: { masksOnly?: boolean } = {},
  ): void {
    const a = this.#v.a, plain = a.label(), done = a.label();
    if (options.masksOnly) this.setMasks(base, plain);
    else this.setup(base, plain);
    body(true);
    a.emit("jmp", done);
    a.bind(plain);
    body(false);
    a.bind(done);
  }

  /**
   * index = −(base mod 64): [operand + index] is then the start of the
   * line `base` starts in, at the same offset in any operand laid out alike.
   */
  startIndex(index: Reg, base: Reg): void {
    const a = this.#v.a;
    a.emit("mov", index, base);
    a.emit("and", index, 63);
    a.emit("neg", index);
  }

  /** The mask of a line of that kind (none for whole lines). */
  mask(kind: string): Tail | undefined {
    return kind === "first" ? this.first : kind === "last" ? this.last : undefined;
  }

  /** The register line k is read into. */
  line(k: number): number {
    return this.#lines()[k % 2];
  }

  #lines(): readonly [number, number] {
    if (!this.lines) throw new Error("line reads: no line registers");
    return this.lines;
  }

  /**
   * The row's vector k − 1, formed from lines k − 1 and k into the register
   * of line k − 1 (which it overwrites); −1 at the first line.
   */
  rowVector(k: number, kind: LineKind): number {
    if (kind === "first") return -1;
    const lines = this.#lines(), earlier = lines[(k + 1) % 2], v = this.#v;
    v.a.emit("vpermt2ps", v.r(earlier), v.r(this.index), v.r(lines[k % 2]));
    return earlier;
  }

  /**
   * The loop over a row's lines: `index` starts at −(base mod 64), so any
   * operand laid out as the row is [operand + disp + index].
   * `body(disp, u, kind, k)` for each line k: u = (k − 1) mod `step`, the
   * accumulator of the row's vector k − 1 (its column loop's `u`); `step`
   * must be even, so k's parity is fixed by u across the loop's iterations.
   */
  columns(
    shape: RowShape,
    step: number,
    index: Reg,
    counter: Reg,
    base: Reg,
    body: (disp: number, u: number, kind: LineKind, k: number) => void,
  ): void {
    const a = this.#v.a;
    if (shape.full < 1 || shape.rest !== 0 || step % 2 !== 0) {
      throw new Error(
        `line reads: whole vectors and an even step, got ${shape.full}+${shape.rest}`,
      );
    }
    const VB = shape.vectorBytes;
    this.startIndex(index, base);
    body(0, 0, "first", 0);
    const middle = shape.full - 1, steps = Math.floor(middle / step);
    countedLoop(a, counter, steps, () => {
      for (let u = 0; u < step; u++) body((1 + u) * VB, u, "vector", 1 + u);
      addImmediate(a, "add", index, step * VB);
    });
    const left = middle - steps * step;
    for (let u = 0; u < left; u++) body((1 + u) * VB, u, "vector", 1 + u);
    body((1 + left) * VB, left, "last", 1 + left);
  }
}

/**
 * A row of any length walked along its cache lines (AVX-512, rows of more
 * than a line) or its 32-byte vectors (AVX2): `line(to, disp, slot, tail)`
 * reads and writes the unit at r11 + disp — the row's first unit from its
 * lane m on (`tail` set, all of it when the row starts on one), whole units
 * `per` at a time (slots 0 to per − 1; their instructions interleaved when
 * `interleave`, each slot then writing to its own `to`) and then one (slot
 * 0), and the last unit's lanes below the row's end (`tail` set) when it
 * ends off one. For elementwise work and exact reductions (a maximum),
 * whose bits do not depend on which lane an element is in. rax, rcx, r11
 * and the two masks are clobbered: at AVX-512 opmasks (default k2 for the
 * first unit, k3 for the last), at AVX2 the vector register `masks[0]`
 * (both, one after the other; it must be none of line's).
 */
export function emitAlongLines(
  v: Vec,
  base: Reg,
  bytes: number,
  line: (to: Assembler, disp: number, slot: number, tail?: Tail) => void,
  options: {
    per?: number;
    interleave?: boolean;
    masks?: [number, number];
    /** Emits a prefetch for the line `disp` bytes into each step's whole units. */
    fetch?: (disp: number) => void;
  } = {},
): void {
  const a = v.a;
  const avx2 = v.isa.level === "avx2";
  const U = v.isa.bits / 8;
  if (!(v.isa.level === "avx512" || avx2) || bytes <= U) {
    throw new Error(`along lines: ${bytes} bytes at ${v.isa.level}`);
  }
  const per = options.per ?? 4, [firstMask, lastMask] = options.masks ?? [2, 3];
  a.emit("mov", r11, base);
  a.emit("and", r11, -U);
  a.emit("mov", rcx, base);
  a.emit("and", rcx, U - 1);
  let first: Tail;
  if (avx2) first = v.runHeadVector(firstMask, rax); // the lanes from the row's first on
  else {
    first = { lanes: 0, k: KREG[firstMask], m: -1 };
    a.emit("shr", rcx, 2); // m: the row's first lane in its first line
    a.emit("mov", eax, -1);
    a.emit("shl", eax, cl);
    a.emit("kmovw", first.k!, eax);
  }
  line(a, 0, 0, first);
  a.emit("lea", rcx, byte(base, bytes));
  a.emit("add", r11, U);
  a.emit("sub", rcx, r11); // bytes left after the first unit (rcx counts them down)
  /** The whole units left, `count` at a time. */
  const wholeLines = (count: number) => {
    const loop = a.label(), skip = a.label(), step = U * count;
    a.emit("sub", rcx, step);
    a.emit("jb", skip);
    a.bind(loop);
    if (options.fetch) { for (let u = 0; u < count * U; u += 64) options.fetch(u); }
    if (count > 1 && options.interleave) {
      emitInterleaved(a, Array.from({ length: count }, (_, u) => (to) => line(to, u * U, u)));
    } else for (let u = 0; u < count; u++) line(a, u * U, u);
    a.emit("add", r11, step);
    a.emit("sub", rcx, step);
    a.emit("jae", loop);
    a.bind(skip);
    a.emit("add", rcx, step);
  };
  wholeLines(per);
  if (per > 1) wholeLines(1);
  const done = a.label();
  a.emit("shr", rcx, 2); // the last unit's lanes
  a.emit("jz", done);
  line(a, 0, 0, avx2 ? v.runTailVector(firstMask, rax) : v.runTail(lastMask, eax));
  a.bind(done);
}

/**
 * dst = s, s + 1, ..., s + 15 with s in the 32-bit register `from`
 * (AVX-512): the index by which one vpermt2ps takes 16 lanes from two
 * vectors, starting at lane s of the first.
 */
export function emitShiftIndex(v: Vec, dst: number, from: Reg): void {
  const a = v.a;
  a.emit("vpbroadcastd", v.r(dst), from);
  const iota = new Int32Array(16).map((_, i) => i);
  a.emit("vpaddd", v.r(dst), v.r(dst), ptr(a.constant(iota, 64), 0, null, 1, 64));
}

/** Whether rows of `cols` can be read along lines (AVX-512, whole vectors; displacements in 32 bits). */
export function canReadLines(level: string, cols: number): boolean {
  return level === "avx512" && cols % 16 === 0 && cols >= 16 && cols < 1 << 26;
}
