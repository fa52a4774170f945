/**
 * The protobuf wire format, read-only and bounds-checked: every read checks
 * the end of its message first, so a truncated or corrupt file gives a
 * ModelError naming what was being read, never an out-of-range read or a hang
 * (each field advances the cursor by at least one byte).
 */

/** A malformed, truncated or unsupported model: the message says what and where. */
export class ModelError extends Error {
  /** "ModelError". */
  override name = "ModelError";
}

/** Wire types of protobuf (groups, 3 and 4, are obsolete and refused). */
export const VARINT = 0, FIXED64 = 1, BYTES = 2, FIXED32 = 5;

const UTF8 = new TextDecoder("utf-8", { fatal: false });

/** Short ASCII strings met, by a hash of their bytes (see WireReader.text). */
const SHORT_TEXT = new Map<number, string>();

/** A cursor over one message's bytes [pos, end). */
export class WireReader {
  readonly bytes: Uint8Array;
  pos: number;
  /** Where reading stops (moved in for a packed field, see int64s). */
  end: number;
  /** What is being read, for error messages ("GraphProto.node[3]"). */
  readonly where: string;

  constructor(bytes: Uint8Array, where: string, pos = 0, end = bytes.length) {
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
    this.where = where;
  }

  fail(what: string): never {
    throw new ModelError(`ONNX: ${this.where}: ${what} (at byte ${this.pos})`);
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /**
   * A varint as a number: the low and high 32 bits are gathered exactly, then
   * combined (negative int64 by two's complement), exact within ±2^53.
   */
  varint(): number {
    const b = this.bytes, at = this.pos;
    // One and two bytes (tags, lengths, small ints: most of a model's varints) without the
    // general loop: a tree ensemble's millions of node attributes read 2-3× faster.
    if (at + 1 < this.end) {
      const b0 = b[at];
      if (b0 < 0x80) {
        this.pos = at + 1;
        return b0;
      }
      const b1 = b[at + 1];
      if (b1 < 0x80) {
        this.pos = at + 2;
        return (b0 & 0x7f) | (b1 << 7);
      }
    }
    let lo = 0, hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail("truncated varint");
      const byte = b[this.pos++], bits = byte & 0x7f;
      if (i < 4) lo += bits * 2 ** (7 * i);
      else if (i === 4) {
        lo += (bits & 0xf) * 2 ** 28;
        hi += bits >> 4;
      } else if (i < 9) hi += bits * 2 ** (7 * i - 32);
      else {
        if (bits > 1) this.fail("varint longer than 64 bits");
        hi += bits * 2 ** 31;
      }
      if (byte < 0x80) return hi >= 2 ** 31 ? (hi - 2 ** 32) * 2 ** 32 + lo : hi * 2 ** 32 + lo;
    }
    return this.fail("varint longer than 64 bits");
  }

  /** An int64 varint as a safe integer (two's complement for negatives), else an error. */
  int64(what: string): number {
    const v = this.varint();
    if (!Number.isSafeInteger(v)) this.fail(`${what} ${v} is not a safe integer`);
    return v;
  }

  /** An int32/enum varint (sign-extended from 64 bits when negative). */
  int32(what: string): number {
    const v = this.int64(what);
    if (v < -(2 ** 31) || v >= 2 ** 32) this.fail(`${what} ${v} out of int32 range`);
    return v >= 2 ** 31 ? v - 2 ** 32 : v;
  }

  /** The tag of the next field: [field number, wire type]. */
  tag(): [number, number] {
    const t = this.varint();
    const field = Math.floor(t / 8), wire = t % 8;
    if (field === 0) this.fail("field number 0");
    if (wire !== VARINT && wire !== FIXED64 && wire !== BYTES && wire !== FIXED32) {
      this.fail(`unsupported wire type ${wire} for field ${field}`);
    }
    return [field, wire];
  }

  /** The [start, end) of a length-delimited field's payload; the cursor moves past it. */
  span(): [number, number] {
    const len = this.varint();
    if (len > this.end - this.pos) this.fail(`length ${len} runs past the end`);
    const start = this.pos;
    this.pos += len;
    return [start, start + len];
  }

  /** A length-delimited field as a sub-reader. */
  message(where: string): WireReader {
    const [start, end] = this.span();
    return new WireReader(this.bytes, where, start, end);
  }

  string(): string {
    const [start, end] = this.span();
    return UTF8.decode(this.bytes.subarray(start, end));
  }

  /**
   * A length-delimited field decoded as UTF-8, a short ASCII one by its char codes and
   * interned by content: a tree ensemble lists hundreds of thousands of node modes
   * ("BRANCH_LEQ"), and a view plus TextDecoder's call for each cost more than the strings.
   */
  text(): string {
    const len = this.varint();
    if (len > this.end - this.pos) this.fail(`length ${len} runs past the end`);
    const b = this.bytes, at = this.pos;
    this.pos += len;
    if (len > 16) return UTF8.decode(b.subarray(at, at + len));
    let key = len;
    for (let i = at; i < at + len; i++) {
      if (b[i] >= 0x80) return UTF8.decode(b.subarray(at, at + len));
      key = (key * 31 + b[i]) | 0;
    }
    const hit = SHORT_TEXT.get(key);
    if (hit !== undefined && hit.length === len) {
      let same = true;
      for (let i = 0; i < len && same; i++) same = hit.charCodeAt(i) === b[at + i];
      if (same) return hit;
    }
    const s = String.fromCharCode(...b.subarray(at, at + len));
    if (SHORT_TEXT.size < 4096) SHORT_TEXT.set(key, s);
    return s;
  }

  /** A length-delimited field's bytes (a view into the file). */
  bytesField(): Uint8Array {
    const [start, end] = this.span();
    return this.bytes.subarray(start, end);
  }

  fixed32(): number {
    if (this.end - this.pos < 4) this.fail("truncated fixed32");
    const b = this.bytes, p = this.pos;
    this.pos += 4;
    return (b[p] | b[p + 1] << 8 | b[p + 2] << 16 | b[p + 3] << 24) >>> 0;
  }

  float(): number {
    const bits = this.fixed32();
    F32_BITS[0] = bits;
    return F32[0];
  }

  double(): number {
    if (this.end - this.pos < 8) this.fail("truncated fixed64");
    for (let i = 0; i < 8; i++) F64_BYTES[i] = this.bytes[this.pos + i];
    this.pos += 8;
    return F64[0];
  }

  /** Skips a field of the given wire type. */
  skip(wire: number): void {
    if (wire === VARINT) this.varint();
    else if (wire === FIXED64) {
      if (this.end - this.pos < 8) this.fail("truncated fixed64");
      this.pos += 8;
    } else if (wire === FIXED32) {
      if (this.end - this.pos < 4) this.fail("truncated fixed32");
      this.pos += 4;
    } else this.span();
  }

  /** Checks a field's wire type. */
  expect(field: string, wire: number, want: number): void {
    if (wire !== want) this.fail(`${field} has wire type ${wire}, expected ${want}`);
  }

  /** Repeated int64s, packed (one BYTES field) or not (one VARINT): appended to out. */
  int64s(wire: number, what: string, out: number[]): void {
    if (wire === VARINT) {
      out.push(this.int64(what));
      return;
    }
    this.expect(what, wire, BYTES);
    // Packed: read in place, this reader's end moved to the payload's for the while (no
    // sub-reader per field: a tree ensemble packs hundreds of thousands of ids).
    const len = this.varint();
    if (len > this.end - this.pos) this.fail(`length ${len} runs past the end`);
    const outer = this.end;
    this.end = this.pos + len;
    try {
      while (this.pos < this.end) out.push(this.int64(what));
    } finally {
      this.end = outer;
    }
  }

  /** Repeated floats, packed or not: appended to out. */
  floats(wire: number, what: string, out: number[]): void {
    if (wire === FIXED32) {
      out.push(this.float());
      return;
    }
    this.expect(what, wire, BYTES);
    const [start, end] = this.span();
    if ((end - start) % 4 !== 0) {
      this.fail(`${what}: packed length ${end - start} not a multiple of 4`);
    }
    const sub = new WireReader(this.bytes, this.where, start, end);
    while (!sub.done) out.push(sub.float());
  }

  /** Repeated doubles, packed or not: appended to out. */
  doubles(wire: number, what: string, out: number[]): void {
    if (wire === FIXED64) {
      out.push(this.double());
      return;
    }
    this.expect(what, wire, BYTES);
    const [start, end] = this.span();
    if ((end - start) % 8 !== 0) {
      this.fail(`${what}: packed length ${end - start} not a multiple of 8`);
    }
    const sub = new WireReader(this.bytes, this.where, start, end);
    while (!sub.done) out.push(sub.double());
  }
}

const F32_BITS = new Uint32Array(1);
const F32 = new Float32Array(F32_BITS.buffer);
const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);
