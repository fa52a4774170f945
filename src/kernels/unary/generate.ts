/**
 * The elementwise loop: `unroll` vectors per iteration, then single vectors,
 * then the tail (a masked vector at AVX2/AVX-512, single elements at SSE2).
 * Every element goes through the same instructions wherever it sits, so a
 * value's result does not depend on n or on its position. Code size is
 * bounded by the op, not by n.
 *
 * @module
 */
import { Assembler, type Program, rcx, rdx, rsi } from "../../../asm/mod.ts";
import { addImmediate, countedLoop, loadPointer } from "../abi.ts";
import { Lanes } from "../math/lanes.ts";
import { type Tail, Vec, vecIsa, type VecLevel } from "../vec.ts";
import { UNARY_OPS } from "./ops.ts";
import { UNARY_ARG, type UnarySpec } from "./spec.ts";

/** How a unary kernel is built. */
export interface UnaryPlan {
  /** Vector level. */
  isa: VecLevel;
  /** Vectors per loop iteration. */
  unroll: number;
  /** No workspace. */
  workspaceBytes: 0;
  /** One line for listings and stats. */
  description: string;
}

/** The plan: the ISA's vectors, unrolled 4 for cheap ops and 2 for long ones. */
export function planUnary(s: UnarySpec, isa: VecLevel): UnaryPlan {
  const def = UNARY_OPS[s.op];
  const unroll = def.flops <= 4 ? 4 : 2;
  return {
    isa,
    unroll,
    workspaceBytes: 0,
    description: `${isa} ${def.name} ×${unroll} vectors per step`,
  };
}

/** Emits `void kernel(args)`: y[i] = op(x[i]) for i < n. */
export function generateUnary(
  s: UnarySpec,
  plan: UnaryPlan,
  options: { listing: boolean },
): Program {
  const a = new Assembler({ listing: options.listing });
  const isa = vecIsa(plan.isa);
  const v = new Vec(a, isa);
  const def = UNARY_OPS[s.op];
  const X = 0, Y = 1;
  const lanes = isa.lanes, bytes = lanes * 4;
  const rest = s.n % lanes, full = (s.n - rest) / lanes;
  let tail: Tail | null = null;
  const free: number[] = [];
  const maskReg = isa.level === "avx2" && rest ? isa.nregs - 1 : -1;
  for (let r = 2; r < isa.nregs; r++) if (r !== maskReg) free.push(r);
  // A dry run finds the temporaries the op needs and its constants; the
  // registers left over hold the most used constants for the whole loop, so
  // the loop reads them from registers instead of loading them each time.
  const probe = new Vec(new Assembler(), isa);
  const dry = new Lanes(probe, free);
  def.emit(dry, Y, X, s.params);
  const spare = free.length - (free.length - dry.lowWater);
  const pins = probe.constantUses().slice(0, Math.max(0, spare));
  const pinRegs = free.splice(free.length - pins.length, pins.length);
  const m = new Lanes(v, free);
  const one = (emitLoad: () => void, emitStore: () => void) => {
    emitLoad();
    def.emit(m, Y, X, s.params);
    if (m.available !== free.length) throw new Error(`${def.name}: emitter leaked registers`);
    emitStore();
  };

  loadPointer(a, rsi, UNARY_ARG.X);
  loadPointer(a, rdx, UNARY_ARG.Y);
  pins.forEach((c, i) => v.pin(c, pinRegs[i]));
  if (rest && (isa.level === "avx512" || isa.level === "avx2")) tail = v.tail(rest, 1, maskReg);
  const blocks = Math.floor(full / plan.unroll);
  countedLoop(a, rcx, blocks, () => {
    for (let u = 0; u < plan.unroll; u++) {
      one(() => v.load(X, rsi, u * bytes), () => v.store(rdx, u * bytes, Y));
    }
    addImmediate(a, "add", rsi, plan.unroll * bytes);
    addImmediate(a, "add", rdx, plan.unroll * bytes);
  });
  countedLoop(a, rcx, full - blocks * plan.unroll, () => {
    one(() => v.load(X, rsi, 0), () => v.store(rdx, 0, Y));
    a.emit("add", rsi, bytes);
    a.emit("add", rdx, bytes);
  });
  if (tail) one(() => v.load(X, rsi, 0, tail!), () => v.store(rdx, 0, Y, tail!));
  else if (rest) {
    countedLoop(a, rcx, rest, () => {
      one(() => v.loadScalar(X, rsi, 0), () => v.storeScalar(rdx, 0, Y));
      a.emit("add", rsi, 4);
      a.emit("add", rdx, 4);
    });
  }
  v.leave();
  a.emit("ret");
  return a.finish();
}
