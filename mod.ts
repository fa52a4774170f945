/**
 * neural-jit: neural-network operations made fast by x86-64 machine code
 * written at run time, from scratch — its own assembler, executable memory,
 * CPU detection and kernels specialized to the shape and instruction set.
 * The assembler is its own entry point: `@njit/core/asm`.
 *
 * @example
 * ```ts
 * import { Jit } from "@njit/core";
 *
 * using jit = new Jit();
 * const [m, n, k] = [64, 64, 64];
 * const a = new Float32Array(m * k).fill(1), b = new Float32Array(k * n).fill(1);
 * const c = new Float32Array(m * n);
 * jit.gemm(a, b, c, { m, n, k }); // compiled for 64×64×64 on this first call
 * console.log(c[0], jit.stats().keys[0].plan); // 64, "L3 avx512 direct 6×64"
 * ```
 *
 * A transformer block's pieces: a Linear layer with its bias and GELU fused
 * (weights packed once), a residual LayerNorm, attention scores' softmax.
 *
 * @example
 * ```ts
 * import { Jit } from "@njit/core";
 *
 * using jit = new Jit();
 * const [tokens, dim, hidden] = [8, 64, 256];
 * const x = new Float32Array(tokens * dim).fill(0.1), h = new Float32Array(tokens * hidden);
 * const w = jit.packB(new Float32Array(hidden * dim).fill(0.01), { k: dim, n: hidden, transB: true });
 * jit.gemm(x, w, h, { m: tokens, n: hidden, k: dim, bias: new Float32Array(hidden), activation: "gelu" });
 * const y = new Float32Array(tokens * dim);
 * jit.layerNorm(x, y, { rows: tokens, cols: dim, residual: x }); // y = LN(x + x)
 * jit.softmax(h, h, { rows: tokens, cols: hidden }); // in place
 * jit.unary("clip", h, h, { min: 0, max: 6 });
 * ```
 *
 * @module
 */
export { Jit } from "./src/runtime/jit.ts";
export type {
  AsyncOptions,
  CacheOptions,
  GemmKernel,
  JitOptions,
  RecordedCalls,
} from "./src/runtime/jit.ts";
export type {
  JitStats,
  KeyStats,
  TuneCandidateStats,
  TuneDuel,
  TuneStats,
} from "./src/runtime/stats.ts";
export type { CodeCacheStats } from "./src/runtime/code_cache.ts";
export type { WorkerStats } from "./src/native/pool.ts";
export type { TierReason } from "./src/runtime/policy.ts";
export { GEMM_LEVELS, gemmReference, MAX_DIMENSION } from "./src/kernels/gemm/mod.ts";
export type {
  GemmEpilogue,
  GemmLevel,
  GemmOptions,
  GemmPath,
  GemmPlan,
  GemmSpec,
} from "./src/kernels/gemm/mod.ts";
export { UNARY_OP_NAMES } from "./src/kernels/unary/mod.ts";
export type { UnaryOp, UnaryParams } from "./src/kernels/unary/mod.ts";
export type { Activation } from "./src/kernels/unary/read.ts";
export type { SoftmaxOptions } from "./src/kernels/softmax/mod.ts";
export type { NormOptions } from "./src/kernels/norm/mod.ts";
export type {
  AutoPad,
  Conv2dOptions,
  ConvTranspose2dOptions,
  TensorLayout,
} from "./src/kernels/conv/mod.ts";
export { ConvWeights, type ConvWeightsOptions } from "./src/kernels/conv/mod.ts";
export type { PoolKind, PoolOptions } from "./src/kernels/pool/mod.ts";
export type { CopyOptions } from "./src/kernels/copy/mod.ts";
export type { RotaryOptions } from "./src/kernels/rotary/mod.ts";
export type { SquaredDistancesOptions } from "./src/kernels/distances/mod.ts";
export {
  type PackedTest,
  PackedTrees,
  type TreeLeavesOptions,
  type TreesDescription,
  type TreeTest,
} from "./src/kernels/trees/mod.ts";
export type { AttentionOptions } from "./src/kernels/attention/mod.ts";
export type { ChainStep } from "./src/kernels/chain/mod.ts";
export { ChainSteps } from "./src/kernels/chain/mod.ts";
export type {
  CoordinateMode,
  NearestMode,
  ResizeMode,
  ResizeOptions,
} from "./src/kernels/resize/mod.ts";
export {
  type BatchNormOptions,
  foldBatchNorm,
  type FoldedConv,
  type FoldOptions,
} from "./src/kernels/batchnorm/mod.ts";
export { REDUCE_OPS } from "./src/kernels/reduce/mod.ts";
export { BINARY_OPS } from "./src/kernels/binary/mod.ts";
export type { BinaryOp } from "./src/kernels/binary/mod.ts";
export type { ReduceOp, ReduceOptions } from "./src/kernels/reduce/mod.ts";
export { PackedB } from "./src/kernels/gemm/mod.ts";
export type { PackBLayout, PackBOptions } from "./src/kernels/gemm/mod.ts";
export type { Int8GemmOptions, PackedInt8B } from "./src/kernels/qgemm/mod.ts";
export type { ConvInt8Options, PackedConvInt8 } from "./src/kernels/qconv/mod.ts";
export type {
  DequantizeLinearOptions,
  QLinearAddOptions,
  QuantizeLinearOptions,
  RequantizeOptions,
} from "./src/kernels/qlinear/mod.ts";
export { packNBits } from "./src/kernels/nbits/mod.ts";
export type { NBitsWeights, PackedNBits } from "./src/kernels/nbits/mod.ts";
export type { DirectPlan } from "./src/kernels/gemm/direct.ts";
export type { PackedPlan } from "./src/kernels/gemm/packed.ts";
export type { VecLevel } from "./src/kernels/vec.ts";
export { cpuFeatures, ISA_LEVELS, isaLevel } from "./src/cpu.ts";
export type { CacheInfo, CpuFeatures, IsaLevel } from "./src/cpu.ts";
export type { CodeBlock } from "./src/native/arena.ts";
export { jitAvailable, JitUnavailableError } from "./src/native/libc.ts";
export type { UnavailableReason } from "./src/native/libc.ts";
export { measurePeak } from "./src/peak.ts";
export type { PeakFigures } from "./src/peak.ts";
export { InferenceSession } from "./src/graph/session.ts";
export type {
  FeedsType,
  FetchesType,
  NonTensorMetadata,
  ReturnType,
  RunOptions,
  SessionOptions,
  TensorMetadata,
  ValueMetadata,
} from "./src/graph/session.ts";
export type { OptimizationLevel, OptimizationReport } from "./src/graph/optimize.ts";
export { env } from "./src/graph/ort_env.ts";
export type { LogLevel, OrtEnv } from "./src/graph/ort_env.ts";
export { Tensor } from "./src/graph/tensor.ts";
export type { TensorElements, TensorType } from "./src/graph/tensor.ts";
export type { DType, TensorData } from "./src/onnx/dtype.ts";
export { ModelError } from "./src/onnx/wire.ts";
