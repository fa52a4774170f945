/**
 * The unary kernel: one row of n elements through the shared elementwise
 * pass (elementwise.ts), the op's emitter as f.
 *
 * @module
 */
import type { Program } from "../../../asm/mod.ts";
import {
  alongY,
  describeStores,
  elementwiseKernel,
  rowStores,
  type StoreHints,
  streamsFor,
  type YStores,
} from "../elementwise.ts";
import { vecIsa, type VecLevel } from "../vec.ts";
import { UNARY_OPS } from "./ops.ts";
import type { UnarySpec } from "./spec.ts";

/** How a unary kernel is built. */
export interface UnaryPlan {
  /** Vector level. */
  isa: VecLevel;
  /** Most interleaved vectors per step (1: a cheap op, 4 vectors in turn; see streamsFor). */
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

/**
 * The plan: cheap ops 4 vectors per step; the rest up to 3 interleaved; y past L3 streamed
 * when split (or on one thread too) and x then prefetched ahead, as the core's `hints` say.
 */
export function planUnary(
  s: UnarySpec,
  isa: VecLevel,
  hints: StoreHints = {},
): UnaryPlan {
  const def = UNARY_OPS[s.op];
  const { stores, fetchAhead } = rowStores(isa, s.n, hints);
  return {
    isa,
    streams: streamsFor(def.flops),
    stores,
    fetchAhead,
    workspaceBytes: 0,
    description: describeStores(`${isa} ${def.name}${alongY(isa, s.n)}`, stores, fetchAhead),
  };
}

/** Emits `void kernel(args)`: y[i] = op(x[i]) for i < n. */
export function generateUnary(
  s: UnarySpec,
  plan: UnaryPlan,
  options: { listing: boolean },
): Program {
  const def = UNARY_OPS[s.op];
  return elementwiseKernel(
    vecIsa(plan.isa),
    s.n,
    (m, y, x) => def.emit(m, y, x, s.params),
    plan.streams,
    { ...options, stores: plan.stores, fetchAhead: plan.fetchAhead },
  );
}
