/**
 * What a math emitter works with: the vector vocabulary of one ISA level,
 * the vector registers it may use as temporaries, and the masks. Every math
 * function (exp.ts, log.ts, ...) is one emitter over this, shared by every
 * kernel that needs it: elementwise maps, softmax, GEMM epilogues.
 *
 * @module
 */
import { Assembler, KREG, type Reg } from "../../../asm/mod.ts";
import { markRarePath } from "../interleave.ts";
import { f32, type Konst, type Mask, type Src, type Vec } from "../vec.ts";

/** A pool of temporaries over a `Vec`, with the operations math emitters need. */
export class Lanes {
  /** The vocabulary written through. */
  readonly v: Vec;
  readonly #free: number[];
  readonly #masks: Reg[];

  /**
   * `free`: vector registers the emitters may clobber. At AVX-512 masks are
   * the opmask registers numbered in `masks` (k1 is left to the caller's tails).
   */
  constructor(v: Vec, free: readonly number[], masks: readonly number[] = [2, 3, 4, 5, 6, 7]) {
    this.v = v;
    this.#free = [...free];
    this.#lowWater = free.length;
    this.#masks = v.isa.level === "avx512" ? masks.map((i) => KREG[i]) : [];
  }

  /** Temporaries still available. */
  get available(): number {
    return this.#free.length;
  }

  /** A temporary vector register. */
  take(): number {
    const r = this.#free.pop();
    if (this.#free.length < this.#lowWater) this.#lowWater = this.#free.length;
    if (r === undefined) {
      throw new Error(`math emitter: out of vector registers at ${this.v.isa.level}`);
    }
    return r;
  }

  /** Returns temporaries to the pool. */
  give(...regs: number[]): void {
    for (const r of regs) this.#free.push(r);
  }

  /** A mask: an opmask at AVX-512, else a vector register. */
  mask(): Mask {
    if (this.v.isa.level !== "avx512") return { v: this.take() };
    const k = this.#masks.pop();
    if (!k) throw new Error("math emitter: out of opmask registers");
    return { k };
  }

  /** Returns a mask to the pool. */
  giveMask(m: Mask): void {
    if ("k" in m) this.#masks.push(m.k);
    else this.give(m.v);
  }

  /** dst = x·y + z, with a temporary where the vocabulary needs one. */
  fma(dst: number, x: number, y: Src, z: Src): void {
    if (dst === x && typeof y !== "number" && typeof z !== "number") {
      const t = this.take();
      this.v.move(t, y);
      this.v.fmadd(dst, dst, t, z);
      return this.give(t);
    }
    if (!this.v.isa.fma && z === dst) {
      const t = this.take();
      this.v.op("mul", t, x, y);
      this.v.op("add", dst, dst, t);
      return this.give(t);
    }
    this.v.fmadd(dst, x, y, z);
  }

  /**
   * A path for rare lanes, out of line: if any lane of `mask` is set, jumps
   * to code where `fix` runs, then back. The fix runs over the temporaries
   * free now and the mask's register: it must not read the mask (in
   * interleaved code a group of bodies is tested once, their masks or-ed
   * into one of them, and every body's fix runs: interleave.ts), so it
   * finds its lanes again from its inputs, and must leave every lane right,
   * rare or not. It must leave every register it did not take as it found
   * it but for those its caller expects it to write. Its temporaries count
   * toward `lowWater`, so a pool sized by a dry run holds them. A VEX vector
   * mask (Vec.jumpIfAny); the caller gives it back after.
   */
  rarely(mask: Mask, fix: (m: Lanes) => void): void {
    this.#rarely(mask, fix, "mask");
  }

  /**
   * `rarely` where any lane of `value` is above `limit`, both as signed
   * int32 (|x|'s bits; an unsigned test biased by 2^31 on both sides:
   * log.ts), the mask made in `value`'s register
   * (which the caller gives back after). Interleaved bodies' tests take the
   * maximum of their values and compare once (interleave.ts), where masks
   * take a compare each and an `or`. Zen 3 runs the integer and logic ops
   * on the FMA pipes too, which bound these kernels: AVX2's e^x in a loop
   * alone, data in L1, three vectors a step (`deno run -A
   * bench/exp_probe.ts full:3,maxud:3`), 7.66 → 7.05 cycles a vector in one
   * run and 5.97 → 5.84 in a quieter one (the test itself, 0.8-0.9 cycles
   * of the 6, costs as much by `vmovmskps`).
   */
  rarelyAbove(value: number, limit: Konst, fix: (m: Lanes) => void): void {
    this.v.op("gti", value, value, limit);
    this.#rarely({ v: value }, fix, "above");
  }

  #rarely(mask: Mask, fix: (m: Lanes) => void, kind: "mask" | "above"): void {
    const v = this.v, a = v.a;
    if (!("v" in mask)) throw new Error("Lanes.rarely: a VEX vector mask");
    const free = [...this.#free, mask.v];
    const masks = this.#masks.map((k) => k.id);
    const dry = new Lanes(v.retarget(new Assembler()), free, masks);
    fix(dry);
    // The fix's temporaries beside what this pool holds (the mask's register counted taken
    // here, free there): the same low water.
    this.#lowWater = Math.min(this.#lowWater, dry.lowWater);
    const entry = a.label(), back = a.label();
    markRarePath(entry, kind); // interleaved bodies' tests of it may fuse (interleave.ts)
    const frozen = v.retarget(a); // the constants pinned here, as they are here
    v.jumpIfAny(mask, entry);
    a.bind(back);
    a.outOfLine((to) => {
      to.bind(entry);
      fix(new Lanes(frozen.retarget(to), free, masks));
      to.emit("jmp", back);
    });
  }

  /**
   * `ifAny` where any lane of `mask` is set, else `ifNone`: two paths of
   * straight code, for a rare path's own cases (not in interleaved code,
   * whose bodies only jump out of line: see `rarely`). Each path starts
   * from the temporaries free now and must leave the same ones free.
   */
  branch(mask: Mask, ifNone: () => void, ifAny: () => void): void {
    const a = this.v.a, any = a.label(), done = a.label();
    this.v.jumpIfAny(mask, any);
    const free = [...this.#free], masks = [...this.#masks];
    ifNone();
    const left = [...this.#free].sort(), leftMasks = this.#masks.map((k) => k.id).sort();
    a.emit("jmp", done);
    a.bind(any);
    this.#free.splice(0, this.#free.length, ...free);
    this.#masks.splice(0, this.#masks.length, ...masks);
    ifAny();
    a.bind(done);
    const same = (p: number[], q: number[]) =>
      p.length === q.length && p.every((r, i) => r === q[i]);
    if (
      !same([...this.#free].sort(), left) || !same(this.#masks.map((k) => k.id).sort(), leftMasks)
    ) {
      throw new Error("Lanes.branch: the two paths leave different temporaries free");
    }
  }

  /** dst = mask ? t : f (a temporary where there is no VEX blend). */
  select(dst: number, mask: Mask, t: Src, f: number): void {
    if (this.v.isa.vex) return this.v.select(dst, mask, t, f);
    const tmp = this.take();
    this.v.select(dst, mask, t, f, tmp);
    this.give(tmp);
  }

  /** dst = max(lo, x), NaN in x kept (x is the second source). dst ≠ x. */
  atLeast(dst: number, x: number, lo: number): void {
    this.#bound("max", dst, x, lo);
  }

  /** dst = min(hi, x), NaN in x kept. dst ≠ x. */
  atMost(dst: number, x: number, hi: number): void {
    this.#bound("min", dst, x, hi);
  }

  #bound(op: "min" | "max", dst: number, x: number, k: number): void {
    const pinned = this.v.pinned(f32(k));
    // A pinned constant is the first source itself (VEX); else load it into dst.
    if (pinned >= 0 && this.v.isa.vex) return this.v.op(op, dst, pinned, x);
    this.v.move(dst, f32(k));
    this.v.op(op, dst, dst, x);
  }

  /** The fewest temporaries that were free at any point (to size a pool). */
  get lowWater(): number {
    return this.#lowWater;
  }
  #lowWater: number;

  /** dst = c[0] + x·(c[1] + x·(c[2] + ...)) by Horner's rule. dst ≠ x. */
  horner(dst: number, x: number, c: readonly number[]): void {
    const n = c.length - 1;
    if (n === 0) return this.v.move(dst, f32(c[0]));
    this.v.fmadd(dst, x, f32(c[n]), f32(c[n - 1]));
    for (let i = n - 2; i >= 0; i--) this.v.fmadd(dst, dst, x, f32(c[i]));
  }

  /**
   * dst = num/den (divps: measured on Zen 5, a 14-bit reciprocal with a
   * Newton step is slower than the division; on an Intel Xeon too, with a
   * correction step that gave divps's bits: sigmoid 6.7 → 8.0 µs per 16 Ki
   * floats, tanh 9.0 → 9.5, in a scratch A/B in one process).
   */
  divide(dst: number, num: number, den: number): void {
    const v = this.v;
    if (v.isa.vex || dst === num) return v.op("div", dst, num, den);
    const t = dst === den ? this.take() : dst;
    v.move(t, num);
    v.op("div", t, t, den);
    v.move(dst, t);
    if (t !== dst) this.give(t);
  }

  /** dst = |x|. */
  abs(dst: number, x: number): void {
    this.v.op("and", dst, x, SIGNLESS);
  }

  /** dst = x with the sign bit of `signOf` or-ed in (|x| given, copysign). */
  withSign(dst: number, x: number, signOf: number): void {
    if (this.v.isa.level === "avx512" && dst === x) return this.v.blendBits(dst, signOf, SIGN);
    const t = this.take();
    this.v.op("and", t, signOf, SIGN);
    this.v.op("or", dst, x, t);
    this.give(t);
  }
}

/** The sign bit of every lane. */
export const SIGN: Konst = { bits: 0x80000000 | 0 };
/** Every bit but the sign. */
export const SIGNLESS: Konst = { bits: 0x7fffffff };
