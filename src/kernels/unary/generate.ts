/**
 * The elementwise loop: `streams` vectors per iteration, their instructions
 * interleaved (independent chains for the core to overlap), then single
 * vectors, then the tail (a masked vector at AVX2/AVX-512, single elements
 * at SSE2). Every element goes through the same instructions wherever it
 * sits, so a value's result does not depend on n or on its position. Code
 * size is bounded by the op, not by n.
 *
 * Registers: a dry run of the op finds the temporaries it needs; as many
 * streams as the register file holds (at most 3) get their own, and the
 * registers left over hold the op's most used constants for the whole loop.
 *
 * @module
 */
import { Assembler, type Program, rcx, rdx, rsi } from "../../../asm/mod.ts";
import { addImmediate, countedLoop, loadPointer } from "../abi.ts";
import { emitInterleaved } from "../interleave.ts";
import { Lanes } from "../math/lanes.ts";
import { type Tail, Vec, vecIsa, type VecLevel } from "../vec.ts";
import { UNARY_OPS } from "./ops.ts";
import { UNARY_ARG, type UnarySpec } from "./spec.ts";

/** How a unary kernel is built. */
export interface UnaryPlan {
  /** Vector level. */
  isa: VecLevel;
  /** Most interleaved vectors per iteration (fewer if the registers do not hold them). */
  streams: number;
  /** No workspace. */
  workspaceBytes: 0;
  /** One line for listings and stats. */
  description: string;
}

/** The plan: the ISA's vectors, up to 3 interleaved (cheap ops: 4 per iteration, not interleaved). */
export function planUnary(s: UnarySpec, isa: VecLevel): UnaryPlan {
  const def = UNARY_OPS[s.op];
  const streams = def.flops <= 4 ? 4 : 3;
  return { isa, streams, workspaceBytes: 0, description: `${isa} ${def.name}` };
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
  const lanes = isa.lanes, bytes = lanes * 4;
  const rest = s.n % lanes, full = (s.n - rest) / lanes;
  const maskReg = isa.level === "avx2" && rest ? isa.nregs - 1 : -1;
  const all: number[] = [];
  for (let r = 0; r < isa.nregs; r++) if (r !== maskReg) all.push(r);

  const dryVec = new Vec(new Assembler(), isa);
  const dry = new Lanes(dryVec, all.slice(2));
  def.emit(dry, 1, 0, s.params);
  const temps = all.length - 2 - dry.lowWater;
  const cheap = def.flops <= 4;
  // Cheap ops: several vectors in turn without interleaving (no chains to overlap).
  const streams = cheap
    ? 1
    : Math.max(1, Math.min(plan.streams, Math.floor(all.length / (temps + 2))));
  const perStream = temps + 2;
  const spare = all.slice(streams * perStream);
  const pins = dryVec.constantUses().slice(0, spare.length);
  pins.forEach((c, i) => v.pin(c, spare[i]));
  const kPerStream = Math.floor(6 / streams);
  const stream = (i: number) => {
    const regs = all.slice(i * perStream, (i + 1) * perStream);
    const masks = [2, 3, 4, 5, 6, 7].slice(i * kPerStream, (i + 1) * kPerStream);
    return { x: regs[0], y: regs[1], temps: regs.slice(2), masks };
  };
  /** One vector at `disp` through stream `i`, written to `to`. */
  const body = (to: Assembler, i: number, disp: number, tail?: Tail) => {
    const sv = v.retarget(to);
    const st = stream(i);
    const m = new Lanes(sv, st.temps, st.masks);
    sv.load(st.x, rsi, disp, tail);
    def.emit(m, st.y, st.x, s.params);
    if (m.available !== st.temps.length) throw new Error(`${def.name}: emitter leaked registers`);
    sv.store(rdx, disp, st.y, tail);
  };
  const scalarBody = () => {
    const st = stream(0);
    const m = new Lanes(v, st.temps, st.masks);
    v.loadScalar(st.x, rsi, 0);
    def.emit(m, st.y, st.x, s.params);
    v.storeScalar(rdx, 0, st.y);
  };

  loadPointer(a, rsi, UNARY_ARG.X);
  loadPointer(a, rdx, UNARY_ARG.Y);
  const tail = rest && (isa.level === "avx512" || isa.level === "avx2")
    ? v.tail(rest, 1, maskReg)
    : null;
  const group = cheap ? plan.streams : streams;
  const blocks = Math.floor(full / group);
  countedLoop(a, rcx, blocks, () => {
    if (cheap) { for (let u = 0; u < group; u++) body(a, 0, u * bytes); }
    else {emitInterleaved(
        a,
        Array.from({ length: group }, (_, i) => (to) => body(to, i, i * bytes)),
      );}
    addImmediate(a, "add", rsi, group * bytes);
    addImmediate(a, "add", rdx, group * bytes);
  });
  countedLoop(a, rcx, full - blocks * group, () => {
    body(a, 0, 0);
    a.emit("add", rsi, bytes);
    a.emit("add", rdx, bytes);
  });
  if (tail) body(a, 0, 0, tail);
  else if (rest) {
    countedLoop(a, rcx, rest, () => {
      scalarBody();
      a.emit("add", rsi, 4);
      a.emit("add", rdx, 4);
    });
  }
  v.leave();
  a.emit("ret");
  return a.finish();
}
