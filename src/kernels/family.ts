/**
 * The op-family contract: what every folder under `src/kernels/` offers the
 * runtime. The runtime knows no op; it holds a family, the call's numeric
 * key and its operands, and asks the family for the rest.
 *
 * A call goes: the family's `read` (options and operand lengths validated
 * through the intrinsic getters, the key written into the runtime's scratch
 * key, the bytes each operand touches into `extents`) → the runtime finds the
 * key's entry (one shared hash and comparison over every key slot, see
 * `key.ts`) → on a miss `decode` → `plan` → `generate` → install → dispatch
 * with the operands' addresses in argument slots 0..operands-1 and the
 * workspace address after them.
 *
 * @module
 */
import type { Program } from "../../asm/mod.ts";
import type { VecLevel } from "./vec.ts";

/**
 * `program` as generated for `target`, checked to run there: code for a
 * level below AVX-512 holds no EVEX instruction, below AVX2 no VEX one
 * either. The tests run every kernel at every level up to the machine's
 * (`maxIsa`), so on an AVX-512 machine an AVX2 kernel that slipped in an
 * EVEX form (ymm16-31, an opmask) would pass them and fault with an illegal
 * instruction on an AVX2-only CPU.
 */
export function checkedFor<P extends Program>(program: P, target: Target, what: string): P {
  const evex = target.isa === "avx512" ? 0 : program.evexInstructions;
  const vex = target.isa === "avx512" || target.isa === "avx2" ? 0 : program.vexInstructions;
  if (evex > 0 || vex > 0) {
    const which = evex > 0 ? `${evex} EVEX` : `${vex} VEX`;
    throw new Error(`${what}: ${which} instruction(s) in code for ${target.isa}`);
  }
  return program;
}

/** The machine a plan is made for. */
export interface Target {
  /** Vector level of the code. */
  isa: VecLevel;
  /** L1 data cache bytes per core. */
  l1d: number;
  /** L2 cache bytes per core. */
  l2: number;
  /** AMX tiles allowed (the Jit's level is "amx"); their vector parts are `isa`'s. */
  amx?: boolean;
  /**
   * Whether AVX-512 FMAs should take a broadcast input as their memory
   * operand (`{1to16}`, one load per FMA) rather than share a broadcast
   * register between two FMAs (one load per two). A property of the core,
   * not of the ISA: see `prefersEmbeddedBroadcast` in src/cpu.ts.
   */
  embedBroadcast?: boolean;
  /**
   * Whether AVX-512 FMAs of a tile with one vector of outputs per input
   * (no register two FMAs could share) take the broadcast input as their
   * memory operand rather than from a broadcast register loaded for each.
   * See `embedsLoneBroadcast` in src/cpu.ts.
   */
  embedLoneBroadcast?: boolean;
  /**
   * Whether a GEMM copies B's strips past L1 before reading them, rather
   * than read them in place (see `prefersCopiedStrips` in src/cpu.ts).
   * Speed only: the same bits.
   */
  copyStrips?: boolean;
  /**
   * Whether a GEMM reading B in place spreads the next strip's prefetch over its row tiles
   * (see `spreadsNextStrip` in src/cpu.ts). Speed only: the same bits.
   */
  spreadNextStrip?: boolean;
  /**
   * Whether a transposing copy of Bᵀ's rows a multiple of 4 KiB apart moves 16×16 blocks
   * whole (see `transposesAliasedRowsWhole` in src/cpu.ts). Speed only: the same bits.
   */
  transposeAliasedWhole?: boolean;
  /**
   * Whether row kernels prefetch rows ahead for operands that fit in L2
   * (see `prefetchesWithinL2` in src/cpu.ts). Speed only: the same bits.
   * Absent: they do.
   */
  prefetchWithinL2?: boolean;
  /**
   * Whether elementwise kernels stream a large y on one thread too (see
   * `streamsOnOneThread` in src/cpu.ts). Speed only: the same bits.
   * Absent: only when split.
   */
  streamOnOneThread?: boolean;
  /**
   * Whether elementwise kernels that stream y prefetch x ahead (see
   * `prefetchesStreamedRows` in src/cpu.ts). Speed only: the same bits.
   */
  fetchStreamedRows?: boolean;
  /**
   * Whether row kernels that prefetch the rows ahead also claim the output's
   * lines of those rows for writing (see `claimsRowsAhead` in src/cpu.ts).
   * Speed only: the same bits. Absent: they do.
   */
  claimRowsAhead?: boolean;
  /**
   * Whether AVX-512 softmax lags its long rows (see `lagsLongRows` in src/cpu.ts). Speed
   * only: the same bits. Absent: it does.
   */
  lagLongRows?: boolean;
  /**
   * Whether AVX-512 softmax takes short rows in blocks (see `blocksShortRows` in src/cpu.ts;
   * logSoftmax's always are). Speed only: the same bits. Absent: it does.
   */
  blockShortRows?: boolean;
  /**
   * Whether a convolution of 128 input channels or more leans to the channel-vector kernel in
   * tier 1 (see `leansToDeepChannelVectors` in src/cpu.ts). Speed only: the same bits.
   * Absent: it does.
   */
  deepChannelVectors?: boolean;
  /**
   * Whether a K×K convolution past a network's first layer leans to the channel-vector kernel
   * in tier 1 (see `leansToKxkChannelVectors` in src/cpu.ts). Speed only: the same bits.
   * Absent: it does not.
   */
  kxkChannelVectors?: boolean;
  /**
   * Whether AVX2's masked store is microcoded, so that a convolution's tier 1 prices its table
   * of row pieces at that (see `microcodesMaskedStores` in src/cpu.ts). Speed only: the same
   * bits. Absent: it is not.
   */
  microcodedMaskedStores?: boolean;
  /**
   * Whether an NHWC depthwise convolution whose x is past L2 takes every channel a tile at any
   * stride (see `tilesNhwcDepthwise` in src/cpu.ts). Speed only: the same bits.
   * Absent: it does not.
   */
  nhwcDepthwiseTiles?: boolean;
  /**
   * Whether a 1×1 convolution of a short k loop whose y is far past L2 runs its channel tiles
   * outside at AVX2 (see `runsShortChannelTilesOutside` in src/cpu.ts). Speed only: the same
   * bits. Absent: it does not.
   */
  shortChannelTilesOutside?: boolean;
}

/** What every plan says of itself. */
export interface KernelPlan {
  /** One line for verbose output, stats and listings. */
  description: string;
  /** Bytes of native scratch the kernel needs (0 if none). */
  workspaceBytes: number;
}

/** Work of one call, for the tiering policy and stats. */
export interface Cost {
  /** Floating-point operations. */
  flops: number;
  /** Bytes read and written. */
  bytes: number;
}

/**
 * One thread's share of a call: a sub-call over part of the data, computed
 * by a kernel of its own.
 */
export interface Part<Spec = unknown, Plan extends KernelPlan = KernelPlan> {
  /** The sub-call (same op, a part of the shape). */
  spec: Spec;
  /** Its plan: the whole call's choices that fix the numerics, kept. */
  plan: Plan;
  /** Bytes from each operand's first element to the part's, in operand order. */
  offsets: readonly number[];
}

/**
 * One op family. `Spec` is the decoded key (a plain object the generator
 * reads), `Plan` how its kernel is built.
 */
export interface OpFamily<Spec = unknown, Plan extends KernelPlan = KernelPlan> {
  /** The op's name, as keys and errors show it. */
  readonly name: string;
  /** Names of the key slots after the family slot (for texts and tests). */
  readonly keyFields: readonly string[];
  /** Names of the operands, in argument-block order (inputs first). */
  readonly operands: readonly string[];
  /** How many of the last operands are written (outputs). */
  readonly outputs: number;
  /**
   * Whether an output may be exactly an input (same first element: an
   * elementwise op computes in place). Any other overlap is a RangeError.
   */
  readonly inPlace?: boolean;
  /** The call a key describes. Called on a miss only. */
  decode(key: Int32Array): Spec;
  /** The key as text: op, shape, layout, scalars. */
  describe(spec: Spec): string;
  /** FLOPs and bytes of one call. */
  cost(spec: Spec): Cost;
  /**
   * The plan for the spec on a target. Its choices decide the numerics of
   * the call, so it may depend on the spec and the target only.
   */
  plan(spec: Spec, target: Target): Plan;
  /**
   * A plan that computes the same call with the simplest code the family
   * has, used when generating `plan(spec)` failed. Same numerics are not
   * promised: it serves keys whose first plan can never be built.
   */
  fallbackPlan(spec: Spec, target: Target): Plan;
  /** The machine code of a plan: `void kernel(double* args)`. */
  generate(spec: Spec, plan: Plan, options: { listing: boolean }): Program;
  /**
   * The call split into at most `parts` sub-calls over disjoint parts of
   * the outputs, each element computed by exactly the instructions the
   * whole call's kernel would use (so any thread count gives the same
   * bits); null or one part when the call does not split. Absent: the
   * family always runs on one thread.
   */
  partition?(spec: Spec, plan: Plan, parts: number): Part<Spec, Plan>[] | null;
  /**
   * Why a family without `partition` never splits (every other family
   * does: the threads tests hold each to one or the other).
   */
  readonly oneThread?: string;
  /**
   * Most parts per thread a split call of the spec is cut into, when fewer
   * than the policy's (its parts carry a fixed cost each: a convolution's
   * row band or channel block rebuilds input planes). Absent or Infinity:
   * the policy's.
   */
  partsPerThread?(spec: Spec): number;
  /**
   * Other plans for the spec that compute exactly the bits `plan` computes
   * (tile shapes, loop orders, blocking of outputs, prefetching: never a
   * change of any element's summation order), for tier 2 to measure on the
   * key's live calls. Their parts (see `partition`) must keep the same
   * promise. `parts`: the parts the call is split into (1: it runs whole),
   * so a family offers choices of how to split only where it matters.
   * Absent or empty: the family's only choice is the part count.
   */
  candidates?(spec: Spec, plan: Plan, target: Target, parts: number): Plan[];
  /**
   * The TypeScript computation: where no machine code can run, and the
   * oracle of the tests. `operands` in the order of {@link operands}.
   */
  reference(spec: Spec, operands: readonly Float32Array[]): void;
}

/** Largest operand count of any family (argument-block slots before the workspace). */
export const MAX_OPERANDS = 7;

/** Largest key length of any family, family slot included. */
export const MAX_KEY_SLOTS = 32;
