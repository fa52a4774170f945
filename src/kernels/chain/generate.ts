/**
 * The chain kernel: one row of n elements through the shared elementwise
 * pass (elementwise.ts) with f the composition of the steps' emitters (the
 * unary ops' and the binary family's own), each step's value in a register.
 *
 * @module
 */
import type { Program } from "../../../asm/mod.ts";
import { emitBinary, emitPowConstant } from "../binary/ops.ts";
import {
  alongY,
  describeStores,
  elementwiseKernel,
  rowStores,
  type StoreHints,
  streamsFor,
  type YStores,
} from "../elementwise.ts";
import type { Lanes } from "../math/lanes.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import { vecIsa, type VecLevel } from "../vec.ts";
import type { ChainSpec, ChainStepSpec } from "./spec.ts";

/** How a chain kernel is built. */
export interface ChainPlan {
  /** Vector level. */
  isa: VecLevel;
  /** Most interleaved vectors per step (see streamsFor). */
  streams: number;
  /** How y is stored (non-temporal stores past the last-level cache: see elementwise.ts). */
  stores: YStores;
  /** Where y streams, bytes ahead that x is prefetched into L2 (0: none; see FETCH_AHEAD). */
  fetchAhead: number;
  /** No workspace. */
  workspaceBytes: 0;
  /** One line for listings and stats. */
  description: string;
}

/** FLOPs per element of a step (a binary step one, pow ~30). */
export function stepFlops(s: ChainStepSpec): number {
  if (s.kind === "unary") return UNARY_OPS[s.op].flops;
  return s.op === "pow" ? 30 : 1;
}

/**
 * The plan: as many interleaved vectors as the chain's work calls for; y's stores and x's
 * prefetch as planUnary's.
 */
export function planChain(
  s: ChainSpec,
  isa: VecLevel,
  hints: StoreHints = {},
): ChainPlan {
  const flops = s.steps.reduce((t, st) => t + stepFlops(st), 0);
  const { stores, fetchAhead } = rowStores(isa, s.n, hints);
  return {
    isa,
    streams: streamsFor(flops),
    stores,
    fetchAhead,
    workspaceBytes: 0,
    description: describeStores(
      `${isa} chain of ${s.steps.length}${alongY(isa, s.n)}`,
      stores,
      fetchAhead,
    ),
  };
}

/** d = step(cur) (d ≠ cur, cur and x kept). */
function emitStep(m: Lanes, s: ChainStepSpec, d: number, cur: number, x: number): void {
  if (s.kind === "unary") return UNARY_OPS[s.op].emit(m, d, cur, s.params);
  if (s.operand === "x") {
    return s.left ? emitBinary(m, s.op, d, x, cur) : emitBinary(m, s.op, d, cur, x);
  }
  // A constant exponent: the binary family's exact code for it.
  if (s.op === "pow" && !s.left && emitPowConstant(m, d, cur, s.value)) return;
  const c = m.take();
  m.v.move(c, { f32: s.value });
  if (s.left) emitBinary(m, s.op, d, c, cur);
  else emitBinary(m, s.op, d, cur, c);
  m.give(c);
}

/** Emits `void kernel(args)`: y[i] = steps(x[i]) for i < n. */
export function generateChain(
  s: ChainSpec,
  plan: ChainPlan,
  options: { listing: boolean },
): Program {
  const last = s.steps.length - 1;
  return elementwiseKernel(
    vecIsa(plan.isa),
    s.n,
    (m, y, x) => {
      // Two registers take turns holding the running value; the last step writes y.
      const t = last > 0 ? [m.take(), last > 1 ? m.take() : -1] : [];
      let cur = x;
      s.steps.forEach((st, i) => {
        const d = i === last ? y : t[i & 1];
        emitStep(m, st, d, cur, x);
        cur = d;
      });
      m.give(...t.filter((r) => r >= 0));
    },
    plan.streams,
    { ...options, stores: plan.stores, fetchAhead: plan.fetchAhead },
  );
}
