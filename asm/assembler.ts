/**
 * The Assembler: matches an instruction's operands against the table rows of
 * its mnemonic, encodes the first row that fits, and keeps labels, fixups,
 * alignment, a constant pool and (optionally) a listing.
 *
 * Jump rule: a jump to a label already bound (backward) takes the shortest
 * form that reaches; a jump to a label not yet bound (forward) takes rel32,
 * unless written `label.short` (`jmp short L1`), which must then reach with
 * rel8 or finishing throws.
 *
 * @module
 */
import { AssemblerError } from "./errors.ts";
import { describe, encode, type Fixup, immFits, rel8Length, type Sink } from "./encode.ts";
import { formatInstruction } from "./format.ts";
import { C, C_DECOR, Label, Mem, type Operand, Reg, ShortRef } from "./operands.ts";
import { EVEX, type OperandSpec, ROLE, type Row, VEX } from "./rows.ts";
import { GROUPS } from "./table.ts";

/** Options of an {@link Assembler}. */
export interface AssemblerOptions {
  /** Record each instruction for {@link Program.listing}. Default false (faster). */
  listing?: boolean;
}

/** One line of a listing. */
export interface ListingEntry {
  /** Byte offset. */
  offset: number;
  /** Bytes it takes. */
  length: number;
  /** Intel-syntax text (a label line ends with `:`). */
  text: string;
  /** Index in `TABLE` of the row that encoded it; -1 for labels and data. */
  row: number;
}

/** The result of {@link Assembler.finish}. */
export interface Program {
  /** The machine code followed by the constant pool. */
  code: Uint8Array;
  /** Bytes of instructions before the constant pool. */
  codeBytes: number;
  /** Instructions emitted. */
  instructions: number;
  /**
   * Of them, EVEX-encoded (AVX-512: zmm, ymm16-31, opmasks, embedded
   * broadcasts): code for a CPU without AVX-512 must have none.
   */
  evexInstructions: number;
  /** Of them, VEX-encoded (AVX, AVX2, FMA...): code for a CPU without AVX must have none. */
  vexInstructions: number;
  /** Offsets of every label. */
  labels: Map<string, number>;
  /** The listing: one line per label, instruction and data, with offset and bytes. */
  listing(): string;
  /** Listing entries (empty unless made with `listing: true`). */
  entries: ListingEntry[];
}

// Intel's recommended multi-byte NOPs (SDM vol. 2B, NOP), by length.
const NOPS: readonly number[][] = [
  [],
  [0x90],
  [0x66, 0x90],
  [0x0f, 0x1f, 0x00],
  [0x0f, 0x1f, 0x40, 0x00],
  [0x0f, 0x1f, 0x44, 0x00, 0x00],
  [0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
  [0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00],
  [0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
  [0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
];

interface Constant {
  label: Label;
  bytes: Uint8Array;
  align: number;
}

type Raw = { offset: number; length: number; row: Row | null; ops: Operand[]; text?: string };

/**
 * The rows of one mnemonic, and a small cache of the rows recent emits chose
 * for their operand classes: kernels repeat a few forms thousands of times,
 * so most emits skip the matching scan. Eight slots, picked by a hash of the
 * classes, hold loads and stores of one mnemonic side by side. Only choices
 * that needed no value check (immediates, labels, broadcast counts, distinct
 * registers) are remembered.
 */
interface Group {
  rows: Row[];
  /** Per slot: the row, then n and c0..c4 at [slot * 6 ..]. */
  rowOf: (Row | null)[];
  key: Float64Array;
}
const BY_MNEMONIC = new Map<string, Group>();

/** The group of `mnemonic`, made on its first emit (GROUPS compiles its rows then). */
function groupOf(mnemonic: string): Group | undefined {
  const known = BY_MNEMONIC.get(mnemonic);
  if (known !== undefined) return known;
  const rows = GROUPS.get(mnemonic);
  if (rows === undefined) return undefined;
  const group = { rows, rowOf: new Array<Row | null>(8).fill(null), key: new Float64Array(48) };
  BY_MNEMONIC.set(mnemonic, group);
  return group;
}

function classOf(op: Operand): number {
  if (typeof op === "number") return op === 1 ? C.IMM | C.ONE : C.IMM;
  if (typeof op === "bigint") return C.IMM;
  return (op as { cls: number }).cls;
}

/** An x86-64 assembler whose output is byte-identical to GNU as (see README). */
export class Assembler {
  readonly #sink: Sink = { buf: new Uint8Array(4096), pos: 0, fixups: [] };
  readonly #ops: Operand[] = [0, 0, 0, 0, 0];
  readonly #labels: Label[] = [];
  readonly #constants: Constant[] = [];
  readonly #constantKeys = new Map<string, Label>();
  readonly #outOfLine: ((a: Assembler) => void)[] = [];
  readonly #raw: Raw[] | null;
  #count = 0;
  #evex = 0;
  #vex = 0;
  #finished = false;

  /** Makes an empty assembler. */
  constructor(options: AssemblerOptions = {}) {
    this.#raw = options.listing ? [] : null;
  }

  /** Current offset in bytes. */
  get offset(): number {
    return this.#sink.pos;
  }

  /** Instructions emitted so far. */
  get instructions(): number {
    return this.#count;
  }

  /**
   * Emits one instruction: `emit("vfmadd231ps", zmm0, zmm1, dword(rax, 64).b)`.
   * Throws {@link AssemblerError} when no table row takes these operands.
   */
  emit(mnemonic: string, a?: Operand, b?: Operand, c?: Operand, d?: Operand, e?: Operand): this {
    const ops = this.#ops;
    let n = 0;
    if (a !== undefined) {
      ops[0] = a;
      n = 1;
      if (b !== undefined) {
        ops[1] = b;
        n = 2;
        if (c !== undefined) {
          ops[2] = c;
          n = 3;
          if (d !== undefined) {
            ops[3] = d;
            n = 4;
            if (e !== undefined) {
              ops[4] = e;
              n = 5;
            }
          }
        }
      }
    }
    return this.emitOperands(mnemonic, ops, n);
  }

  /** Emits one instruction from an operand array (first `n` entries). */
  emitOperands(mnemonic: string, ops: readonly Operand[], n: number = ops.length): this {
    if (this.#finished) throw new AssemblerError(mnemonic, "the program is already finished");
    const group = groupOf(mnemonic);
    if (group === undefined) {
      throw new AssemblerError(describe(mnemonic, ops, n), `unknown mnemonic ${mnemonic}`);
    }
    const rows = group.rows;
    const sink = this.#sink;
    const c0 = n > 0 ? classOf(ops[0]) : 0, c1 = n > 1 ? classOf(ops[1]) : 0;
    const c2 = n > 2 ? classOf(ops[2]) : 0, c3 = n > 3 ? classOf(ops[3]) : 0;
    const c4 = n > 4 ? classOf(ops[4]) : 0;
    let row: Row | null = null;
    const slot = Math.imul(c0 + 3 * c1 + 5 * c2 + 7 * c3 + 11 * c4 + n, 0x9e3779b1) >>> 29;
    const key = group.key, at = slot * 6;
    const cached = group.rowOf[slot];
    if (
      cached !== null && key[at] === n && key[at + 1] === c0 && key[at + 2] === c1 &&
      key[at + 3] === c2 && key[at + 4] === c3 && key[at + 5] === c4
    ) row = cached;
    else {
      for (let i = 0; i < rows.length; i++) {
        if (matches(rows[i], ops, n, sink.pos)) {
          row = rows[i];
          break;
        }
      }
      if (row === null) throw noMatch(mnemonic, rows, ops, n);
      if (((c0 | c1 | c2 | c3 | c4) & CHECK) === 0 && !row.distinct) {
        group.rowOf[slot] = row;
        key[at] = n;
        key[at + 1] = c0;
        key[at + 2] = c1;
        key[at + 3] = c2;
        key[at + 4] = c3;
        key[at + 5] = c4;
      }
    }
    if (row.memIndex >= 0) {
      const m = ops[row.memIndex];
      if (m instanceof Mem && ((m.cls & C.MANY) !== 0 || m.bcst === 1)) {
        checkAmbiguity(row, rows, ops, n, sink.pos);
      }
    }
    if (row.space === VEX && needsVex3OnlyForB(row, ops, n)) {
      row = vex2Alternative(row, rows, ops, n);
    }
    const start = sink.pos;
    encode(sink, row, ops, n);
    this.#count++;
    if (row.space === EVEX) this.#evex++;
    else if (row.space === VEX) this.#vex++;
    if (this.#raw) {
      this.#raw.push({ offset: start, length: sink.pos - start, row, ops: ops.slice(0, n) });
    }
    return this;
  }

  /** A new unbound label; `name` shows in listings. */
  label(name?: string): Label {
    const l = new Label(name ?? `L${this.#labels.length}`, this);
    this.#labels.push(l);
    return l;
  }

  /** Binds `label` to the current offset. A label binds once. */
  bind(label: Label): this {
    if (label.owner !== this) {
      throw new AssemblerError(label.name, "label belongs to another assembler");
    }
    if (label.bound) throw new AssemblerError(label.name, `label ${label.name} is bound twice`);
    label.offset = this.#sink.pos;
    this.#raw?.push({
      offset: label.offset,
      length: 0,
      row: null,
      ops: [],
      text: `${label.name}:`,
    });
    return this;
  }

  /** Pads with multi-byte NOPs to a multiple of `boundary` (a power of two). */
  align(boundary: number): this {
    // Code is installed at page starts: a larger boundary could not hold.
    if (
      !Number.isInteger(boundary) || boundary < 1 || boundary > 4096 ||
      (boundary & (boundary - 1)) !== 0
    ) {
      throw new AssemblerError(`align ${boundary}`, "alignment must be a power of two up to 4096");
    }
    let pad = (boundary - (this.#sink.pos % boundary)) % boundary;
    while (pad > 0) {
      const n = Math.min(pad, 9);
      this.bytes(NOPS[n], `nop${n > 1 ? ` (${n} bytes)` : ""}`);
      pad -= n;
    }
    return this;
  }

  /** Emits raw bytes in place (listed as a `.byte` line). */
  bytes(data: ArrayLike<number>, comment = ""): this {
    const sink = this.#sink;
    while (sink.pos + data.length > sink.buf.length) {
      const bigger = new Uint8Array(sink.buf.length * 2);
      bigger.set(sink.buf);
      sink.buf = bigger;
    }
    const start = sink.pos;
    for (let i = 0; i < data.length; i++) sink.buf[sink.pos++] = data[i];
    if (this.#raw) {
      const list = Array.from(data, (b) => `0x${b.toString(16).padStart(2, "0")}`).join(", ");
      this.#raw.push({
        offset: start,
        length: data.length,
        row: null,
        ops: [],
        text: `.byte ${list}${comment ? `  # ${comment}` : ""}`,
      });
    }
    return this;
  }

  /**
   * A constant placed after the code (aligned) and addressed RIP-relative:
   * `emit("vbroadcastss", zmm0, dword(a.constant(f32(1.5))))`. Equal constants share one copy.
   */
  constant(data: Uint8Array | Float32Array | Int32Array | Uint32Array, align = 16): Label {
    const bytes = data instanceof Uint8Array
      ? data
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const key = `${align}:${bytes.join(",")}`;
    const known = this.#constantKeys.get(key);
    if (known) return known;
    const label = this.label(`C${this.#constants.length}`);
    this.#constants.push({ label, bytes: bytes.slice(), align });
    this.#constantKeys.set(key, label);
    return label;
  }

  /**
   * Code placed after everything else (before the constant pool): `body`
   * runs at `finish()`, writing here, in the order given. For paths taken
   * rarely, out of the way of the code around the jump to them; the body
   * binds its own entry label and jumps back. A body may queue more.
   */
  outOfLine(body: (a: Assembler) => void): this {
    if (this.#finished) throw new AssemblerError("", "the program is already finished");
    this.#outOfLine.push(body);
    return this;
  }

  /** Lays out the out-of-line code and the constant pool, resolves every label reference, returns the program. */
  finish(): Program {
    if (this.#finished) throw new AssemblerError("", "finish() called twice");
    for (let i = 0; i < this.#outOfLine.length; i++) this.#outOfLine[i](this);
    const codeBytes = this.#sink.pos;
    for (const c of this.#constants) {
      const pad = (c.align - (this.#sink.pos % c.align)) % c.align;
      if (pad) this.bytes(new Uint8Array(pad).fill(0xcc), "pad");
      this.bind(c.label);
      this.bytes(c.bytes);
    }
    this.#finished = true;
    const sink = this.#sink;
    for (const fx of sink.fixups) resolve(sink.buf, fx);
    const labels = new Map<string, number>();
    for (const l of this.#labels) labels.set(l.name, l.offset);
    const code = sink.buf.slice(0, sink.pos);
    const raw = this.#raw ?? [];
    const entries: ListingEntry[] = raw.map((r) => ({
      offset: r.offset,
      length: r.length,
      text: r.text ?? formatInstruction(r.row!, r.ops),
      row: r.row ? r.row.index : -1,
    }));
    return {
      code,
      codeBytes,
      instructions: this.#count,
      evexInstructions: this.#evex,
      vexInstructions: this.#vex,
      labels,
      entries,
      listing: () => formatListing(entries, code),
    };
  }
}

function resolve(buf: Uint8Array, fx: Fixup): void {
  if (!fx.label.bound) {
    throw new AssemblerError(fx.label.name, `label ${fx.label.name} is referenced but never bound`);
  }
  const d = fx.label.offset + fx.addend - fx.end;
  if (fx.size === 1) {
    if (d < -128 || d > 127) {
      throw new AssemblerError(
        `short jump to ${fx.label.name}`,
        `target is ${d} bytes away, beyond the -128..127 of rel8`,
      );
    }
    buf[fx.at] = d & 0xff;
  } else {
    buf[fx.at] = d & 0xff;
    buf[fx.at + 1] = (d >> 8) & 0xff;
    buf[fx.at + 2] = (d >> 16) & 0xff;
    buf[fx.at + 3] = (d >> 24) & 0xff;
  }
}

const CHECK = C.IMM | C.REL | C.BN;

/** Does `row` accept these operands at code offset `pos`? Bit tests first, value checks after. */
function matches(row: Row, ops: readonly Operand[], n: number, pos: number): boolean {
  const specs = row.ops;
  if (specs.length !== n) return false;
  for (let i = 0; i < n; i++) {
    const spec = specs[i];
    const op = ops[i];
    const cls = typeof op === "object" ? op.cls : op === 1 ? C.IMM | C.ONE : C.IMM;
    if (
      (cls & spec.accept) === 0 || (cls & spec.require) !== spec.require ||
      (cls & C_DECOR & ~spec.decor) !== 0
    ) return false;
    if ((cls & CHECK) !== 0 && !valueFits(row, spec, op, cls, pos)) return false;
  }
  if (row.distinct) {
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) if (ops[i] === ops[j]) return false;
    }
  }
  return true;
}

/** The checks that need values: immediate ranges, broadcast counts, jump distances. */
function valueFits(row: Row, spec: OperandSpec, op: Operand, cls: number, pos: number): boolean {
  if (cls & C.IMM) return spec.imm === 0 || immFits(op as number | bigint, spec.imm, row.opsize);
  if (cls & C.BN) return (op as Mem).bcst === row.bcstCount;
  if (spec.immBytes === 1) {
    if (op instanceof ShortRef) return true;
    const label = op as Label;
    if (!label.bound) return false;
    const d = label.offset - (pos + rel8Length(row));
    return d >= -128 && d <= 127;
  }
  return !(op instanceof ShortRef);
}

/** A memory operand without a size must leave only one memory size possible (as GNU as requires). */
function checkAmbiguity(
  row: Row,
  rows: Row[],
  ops: readonly Operand[],
  n: number,
  pos: number,
): void {
  const size = row.memIndex >= 0 ? row.ops[row.memIndex].memSize : 0;
  const bcst = row.memIndex >= 0 && (ops[row.memIndex] as Mem).bcst !== 0;
  for (const other of rows) {
    if (other === row || other.memIndex < 0) continue;
    const s = other.ops[other.memIndex].memSize;
    const differs = bcst ? other.bcstCount !== row.bcstCount : s !== 0 && size !== 0 && s !== size;
    if (differs && matches(other, ops, n, pos)) {
      throw new AssemblerError(
        describe(row.mnemonic, ops, n),
        bcst
          ? "ambiguous broadcast: write the element count, {1to4}/{1to8}/{1to16}"
          : "ambiguous operand size: write byte/word/dword/qword/xmmword/ymmword/zmmword ptr",
      );
    }
  }
}

/** Registers only: would this VEX row need the 3-byte prefix for REX.B alone? */
function needsVex3OnlyForB(row: Row, ops: readonly Operand[], n: number): boolean {
  if (row.map !== 1 || row.w !== 0 || row.rmIdx < 0) return false;
  const rm = ops[row.rmIdx];
  if (!(rm instanceof Reg) || rm.id < 8) return false;
  for (let i = 0; i < n; i++) if (!(ops[i] instanceof Reg)) return false;
  return true;
}

/**
 * GNU as swaps the two registers of a move that also has a store form, so
 * the high register lands in ModRM.reg and the 2-byte VEX prefix suffices.
 * Any other row of the group with the same operand kinds but reg/rm exchanged
 * is such a store form.
 */
function vex2Alternative(row: Row, rows: Row[], ops: readonly Operand[], n: number): Row {
  for (const other of rows) {
    if (other === row || other.space !== VEX || other.map !== 1 || other.w !== 0) continue;
    if (!matches(other, ops, n, 0)) continue;
    let highInRm = false;
    for (let i = 0; i < n; i++) {
      if (other.ops[i].role === ROLE.M && (ops[i] as Reg).id >= 8) highInRm = true;
    }
    if (!highInRm) return other;
  }
  return row;
}

function noMatch(
  mnemonic: string,
  rows: Row[],
  ops: readonly Operand[],
  n: number,
): AssemblerError {
  const text = describe(mnemonic, ops, n);
  // Say what is wrong when it is one value out of range or a mask not allowed.
  for (const row of rows) {
    if (row.ops.length !== n) continue;
    let kindsFit = true;
    let why = "";
    for (let i = 0; i < n; i++) {
      const cls = classOf(ops[i]);
      const spec = row.ops[i];
      if ((cls & spec.accept) === 0 || (cls & spec.require) !== spec.require) kindsFit = false;
      else if (spec.imm !== 0 && !immFits(ops[i] as number | bigint, spec.imm, row.opsize)) {
        why ||= `immediate ${String(ops[i])} does not fit ${spec.token}`;
      } else if (
        (ops[i] instanceof Reg || ops[i] instanceof Mem) && (ops[i] as Reg).mask && !spec.maskMode
      ) {
        why ||= `operand ${i + 1} cannot take an opmask`;
      } else if (spec.role === ROLE.J && spec.immBytes === 1) {
        why ||= "jump target out of rel8 range";
      }
    }
    if (kindsFit && why) {
      // Name the widest immediate any form takes, not the first form's.
      const widest = rows.filter((r) => r.ops.length === n).flatMap((r) => r.ops)
        .filter((o) => o.imm !== 0).sort((x, y) => y.immBytes - x.immBytes)[0];
      if (widest && why.startsWith("immediate")) {
        const imm = ops.find((o) => typeof o === "number" || typeof o === "bigint");
        why = `immediate ${String(imm)} does not fit ${widest.token}`;
      }
      return new AssemblerError(text, why);
    }
  }
  const forms = [...new Set(rows.map((r) => `${r.mnemonic} ${r.spec[1]}`))].slice(0, 12);
  return new AssemblerError(
    text,
    `no form of ${mnemonic} takes these operands; forms: ${forms.join(" | ")}`,
  );
}

function formatListing(entries: ListingEntry[], code: Uint8Array): string {
  const lines: string[] = [];
  for (const e of entries) {
    if (e.length === 0) {
      lines.push(e.text);
      continue;
    }
    const hex = Array.from(
      code.subarray(e.offset, e.offset + e.length),
      (b) => b.toString(16).padStart(2, "0"),
    ).join(" ");
    lines.push(`    ${e.text.padEnd(56)} # ${e.offset.toString(16).padStart(4, "0")}: ${hex}`);
  }
  return lines.join("\n") + "\n";
}
