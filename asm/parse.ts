/**
 * Text input: Intel syntax as GNU as reads it under `.intel_syntax noprefix`.
 *
 * One instruction (optionally after `lock`), label or directive per line (or
 * `;`-separated), `#` comments, size words `byte/word/dword/qword/xmmword/ymmword/zmmword ptr`
 * (and `bcst`, as objdump prints broadcasts), decorations `{k1}{z}` and
 * `{1to16}`, `short` jump targets, RIP-relative `[rip+label]`, and the
 * directives `.byte`, `.long`, `.quad`, `.align`/`.balign`, `.p2align`.
 * A listing produced by the assembler parses back to the same bytes.
 *
 * @module
 */
import { Assembler, type Program } from "./assembler.ts";
import { AssemblerError } from "./errors.ts";
import { Label, Mem, type Operand, type Reg, REGISTERS, ShortRef } from "./operands.ts";

const SIZES: Record<string, number> = {
  byte: 1,
  word: 2,
  dword: 4,
  qword: 8,
  xmmword: 16,
  oword: 16,
  ymmword: 32,
  zmmword: 64,
};

/** Assembles Intel-syntax text into a program (bytes, labels, listing). */
export function assembleProgram(text: string): Program {
  const a = new Assembler({ listing: true });
  const labels = new Map<string, Label>();
  const labelFor = (name: string) => {
    let l = labels.get(name);
    if (!l) {
      l = a.label(name);
      labels.set(name, l);
    }
    return l;
  };
  const lines = text.split("\n");
  for (let ln = 0; ln < lines.length; ln++) {
    for (let stmt of stripComment(lines[ln]).split(";")) {
      stmt = stmt.trim();
      try {
        for (;;) {
          const m = /^([A-Za-z_.$][\w.$@]*)\s*:(?!:)/.exec(stmt);
          if (!m) break;
          a.bind(labelFor(m[1]));
          stmt = stmt.slice(m[0].length).trim();
        }
        // A `lock` prefix written before its instruction, as GNU as takes it.
        const prefix = /^lock\s+(?=\S)/i.exec(stmt);
        if (prefix) {
          a.emit("lock");
          stmt = stmt.slice(prefix[0].length);
        }
        if (stmt === "") continue;
        if (stmt.startsWith(".")) directive(a, stmt);
        else instruction(a, stmt, labelFor);
      } catch (e) {
        if (e instanceof AssemblerError) {
          throw new AssemblerError(`line ${ln + 1}: ${stmt}`, e.reason);
        }
        throw e;
      }
    }
  }
  return a.finish();
}

/** Assembles Intel-syntax text (GNU as, `.intel_syntax noprefix`) into machine code. */
export function assemble(text: string): Uint8Array {
  return assembleProgram(text).code;
}

function stripComment(line: string): string {
  const i = line.indexOf("#");
  return i >= 0 ? line.slice(0, i) : line;
}

function directive(a: Assembler, stmt: string): void {
  const [name, ...rest] = stmt.split(/\s+/);
  const args = rest.join(" ").split(",").map((s) => s.trim()).filter((s) => s !== "");
  switch (name.toLowerCase()) {
    case ".intel_syntax":
    case ".text":
    case ".globl":
    case ".global":
    case ".code64":
      return;
    case ".byte":
      a.bytes(littleEndian(args, 1, stmt));
      return;
    case ".long":
      a.bytes(littleEndian(args, 4, stmt));
      return;
    case ".quad":
      a.bytes(littleEndian(args, 8, stmt));
      return;
    case ".align":
    case ".balign":
      a.align(alignment(args, stmt, false));
      return;
    case ".p2align":
      a.align(alignment(args, stmt, true));
      return;
    default:
      throw new AssemblerError(stmt, `unsupported directive ${name}`);
  }
}

/**
 * The values of a data directive as `size`-byte little-endian integers.
 * Each must fit the size, signed or unsigned (GNU as only warns and
 * truncates; a silently wrong byte is worse than an error).
 */
function littleEndian(args: string[], size: number, stmt: string): number[] {
  if (args.length === 0) throw new AssemblerError(stmt, "expects at least one value");
  const bits = BigInt(8 * size);
  const out: number[] = [];
  for (const s of args) {
    const v = BigInt(parseNumber(s, stmt));
    if (v < -(1n << (bits - 1n)) || v >= 1n << bits) {
      throw new AssemblerError(
        stmt,
        `value ${s} does not fit ${size} byte${size > 1 ? "s" : ""} ` +
          `(${-(1n << (bits - 1n))} to ${(1n << bits) - 1n})`,
      );
    }
    const u = BigInt.asUintN(Number(bits), v);
    for (let i = 0n; i < BigInt(size); i++) out.push(Number((u >> (8n * i)) & 0xffn));
  }
  return out;
}

/** Largest alignment: code is installed at page starts, so a larger one could not hold. */
const MAX_ALIGN_LOG2 = 12;

/** The byte boundary of `.align`/`.balign` (bytes) or `.p2align` (a power of two). */
function alignment(args: string[], stmt: string, log2: boolean): number {
  if (args.length !== 1) {
    throw new AssemblerError(
      stmt,
      args.length === 0
        ? `expects an alignment (${log2 ? "a power of two's exponent" : "bytes"})`
        : "fill and maximum-skip operands are not supported",
    );
  }
  const v = parseNumber(args[0], stmt);
  const max = log2 ? MAX_ALIGN_LOG2 : 2 ** MAX_ALIGN_LOG2;
  if (typeof v !== "number" || v < (log2 ? 0 : 1) || v > max) {
    throw new AssemblerError(stmt, `alignment ${args[0]} must be ${log2 ? 0 : 1} to ${max}`);
  }
  if (log2) return 2 ** v;
  if ((v & (v - 1)) !== 0) throw new AssemblerError(stmt, `alignment ${v} is not a power of two`);
  return v;
}

function instruction(a: Assembler, stmt: string, labelFor: (name: string) => Label): void {
  const m = /^(\S+)\s*(.*)$/.exec(stmt)!;
  const mnemonic = m[1].toLowerCase();
  const ops = splitOperands(m[2]).map((t) => operand(t, stmt, labelFor));
  a.emitOperands(mnemonic, ops, ops.length);
}

function splitOperands(text: string): string[] {
  const out: string[] = [];
  let depth = 0, start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "[" || c === "{") depth++;
    else if (c === "]" || c === "}") depth--;
    else if (c === "," && depth === 0) {
      out.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = text.slice(start).trim();
  if (last !== "" || out.length > 0) out.push(last);
  return out;
}

function parseNumber(s: string, stmt: string): number | bigint {
  const t = s.trim().toLowerCase();
  const m = /^([-+]?)(0x[0-9a-f]+|0b[01]+|\d+)$/.exec(t);
  if (!m) throw new AssemblerError(stmt, `not a number: ${s}`);
  const big = BigInt(m[2]);
  const v = m[1] === "-" ? -big : big;
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : v;
}

function operand(text: string, stmt: string, labelFor: (name: string) => Label): Operand {
  let t = text.trim();
  let mask = 0, zero = false, bcst = 0;
  for (;;) {
    const d = /\{\s*([^}]*?)\s*\}\s*$/.exec(t);
    if (!d) break;
    const v = d[1].toLowerCase();
    if (v === "z") zero = true;
    else if (/^k[1-7]$/.test(v)) mask = Number(v[1]);
    else if (/^1to(2|4|8|16|32)$/.test(v)) bcst = Number(v.slice(3));
    else throw new AssemblerError(stmt, `unknown decoration {${d[1]}}`);
    t = t.slice(0, d.index).trim();
  }
  const lower = t.toLowerCase();
  if (lower.startsWith("short ")) {
    return labelFor(t.slice(6).trim()).short;
  }
  let size = 0;
  const sz = /^(byte|word|dword|qword|xmmword|oword|ymmword|zmmword)\s+(ptr|bcst)\s*/i.exec(t);
  if (sz) {
    size = SIZES[sz[1].toLowerCase()];
    if (sz[2].toLowerCase() === "bcst") bcst ||= 1;
    t = t.slice(sz[0].length).trim();
  }
  if (t.startsWith("[")) {
    if (!t.endsWith("]")) throw new AssemblerError(stmt, `bad memory operand ${text}`);
    let m = memory(t.slice(1, -1), stmt, labelFor, size);
    if (bcst) m = m.bcst1toN(bcst);
    if (mask) m = m.k(REGISTERS.get(`k${mask}`)!);
    if (zero) throw new AssemblerError(stmt, "{z} cannot apply to a memory operand");
    return m;
  }
  if (size) throw new AssemblerError(stmt, `size word without a memory operand: ${text}`);
  const reg = REGISTERS.get(lower);
  if (reg) {
    if (reg.kind === "rip") throw new AssemblerError(stmt, "rip is only usable as a memory base");
    let r: Reg = reg;
    if (mask) r = r.k(REGISTERS.get(`k${mask}`)!);
    if (zero) r = r.z;
    return r;
  }
  if (mask || zero || bcst) throw new AssemblerError(stmt, `decoration on ${text}`);
  if (/^[-+]?(0x[0-9a-f]+|0b[01]+|\d+)$/i.test(t)) return parseNumber(t, stmt);
  if (/^[A-Za-z_.$][\w.$@]*$/.test(t)) return labelFor(t);
  throw new AssemblerError(stmt, `cannot read operand ${text}`);
}

function memory(
  inner: string,
  stmt: string,
  labelFor: (name: string) => Label,
  size: number,
): Mem {
  let base: Reg | null = null, index: Reg | null = null, scale = 1, disp = 0;
  let label: Label | null = null;
  const terms = inner.replace(/\s+/g, "").replace(/-/g, "+-").split("+").filter((s) => s !== "");
  for (const term of terms) {
    const neg = term.startsWith("-");
    const body = neg ? term.slice(1) : term;
    const star = body.split("*");
    if (star.length === 2) {
      const [x, y] = star;
      const rx = REGISTERS.get(x.toLowerCase()), ry = REGISTERS.get(y.toLowerCase());
      const reg = rx ?? ry;
      const s = Number(parseNumber(rx ? y : x, stmt));
      if (!reg || neg || index) throw new AssemblerError(stmt, `bad index term ${term}`);
      index = reg;
      scale = s;
      continue;
    }
    const reg = REGISTERS.get(body.toLowerCase());
    if (reg) {
      if (neg) throw new AssemblerError(stmt, `cannot subtract a register: ${term}`);
      if (!base) base = reg;
      else if (!index) index = reg;
      else throw new AssemblerError(stmt, `too many registers in [${inner}]`);
      continue;
    }
    if (/^(0x[0-9a-f]+|0b[01]+|\d+)$/i.test(body)) {
      const v = Number(parseNumber(body, stmt));
      disp += neg ? -v : v;
      continue;
    }
    if (/^[A-Za-z_.$][\w.$@]*$/.test(body) && !neg && !label) {
      label = labelFor(body);
      continue;
    }
    throw new AssemblerError(stmt, `cannot read address term ${term}`);
  }
  if (label) {
    if (base && base.kind !== "rip") {
      throw new AssemblerError(stmt, "a label address must be RIP-relative: [rip+label]");
    }
    return new Mem(REGISTERS.get("rip")!, index, scale, disp, size, 0, label);
  }
  return new Mem(base, index, scale, disp, size);
}

export { Label, ShortRef };
