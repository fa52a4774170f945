/**
 * neural-jit: neural-network operations made fast by x86-64 machine code
 * written at run time, from scratch — its own assembler, executable memory,
 * CPU detection and kernels specialized to the shape and instruction set.
 *
 * @example
 * ```ts
 * import { assemble, cpuFeatures } from "@njit/core";
 *
 * console.log(cpuFeatures().isa); // "avx512", "avx2", ...
 * console.log(assemble("vfmadd231ps zmm0, zmm1, dword ptr [rax+64]{1to16}"));
 * ```
 *
 * @module
 */
export { assemble, assembleProgram, Assembler, AssemblerError } from "./asm/mod.ts";
export type { AssemblerOptions, ListingEntry, Operand, Program, RegKind } from "./asm/mod.ts";
export { Label, Mem, Reg, ShortRef } from "./asm/mod.ts";
export * as asm from "./asm/mod.ts";
export { cpuFeatures, ISA_LEVELS, isaLevel } from "./src/cpu.ts";
export type { CacheInfo, CpuFeatures, IsaLevel } from "./src/cpu.ts";
export { CodeArena, CodeBlock } from "./src/native/arena.ts";
export type { CodeArenaOptions, CodeArenaStats } from "./src/native/arena.ts";
export { jitAvailable, JitUnavailableError } from "./src/native/libc.ts";
export type { UnavailableReason } from "./src/native/libc.ts";
export { Jit } from "./src/runtime/jit.ts";
export type { GemmKernel, JitOptions } from "./src/runtime/jit.ts";
export type { JitStats, KeyStats } from "./src/runtime/stats.ts";
export type { GemmOptions } from "./src/runtime/gemm_args.ts";
export { GEMM_LEVELS, gemmReference } from "./src/kernels/gemm/mod.ts";
export type { GemmLevel, GemmPath, GemmPlan, GemmSpec } from "./src/kernels/gemm/mod.ts";
export type { DirectPlan } from "./src/kernels/gemm/direct.ts";
export type { PackedPlan } from "./src/kernels/gemm/packed.ts";
export type { VecLevel } from "./src/kernels/vec.ts";
export type { TierReason } from "./src/runtime/policy.ts";
export { measurePeak } from "./src/peak.ts";
export type { PeakFigures } from "./src/peak.ts";
