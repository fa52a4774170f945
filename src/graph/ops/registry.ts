/**
 * The op registry: ONNX op type → definition. Adding an op is a definition
 * in one of the op modules plus its line here (through the module's table).
 * Fused forms made by the graph's fusions are the same definitions under
 * the domain "njit" (extra inputs and `node.fused` allowed).
 */
import { ATTENTION_OPS } from "./attention.ts";
import { BINARY_OPS } from "./binary.ts";
import { ELEMENTWISE_CHAIN } from "./chain.ts";
import { DOT_ATTENTION } from "./dot_attention.ts";
import { CONTROL_OPS } from "./control.ts";
import { CONV_OPS } from "./conv.ts";
import { RESIZE_OPS } from "./resize.ts";
import { CONV_INTEGER_OPS } from "./conv_integer.ts";
import { CAUSAL_CONV_WITH_STATE } from "./causal_conv.ts";
import { LINEAR_ATTENTION } from "./linear_attention.ts";
import { DEFAULT_DOMAIN_CONTRIB_OPS, MICROSOFT_OPS } from "./contrib.ts";
import { GEMM_OP, MATMUL } from "./matmul.ts";
import { INDEXING_OPS } from "./indexing.ts";
import { MATH_OPS } from "./math.ts";
import { MISC_OPS } from "./misc.ts";
import { ML_OPS } from "./ml.ts";
import { MOVEMENT_OPS } from "./movement.ts";
import { NMS_OPS } from "./nms.ts";
import { NONZERO_OPS } from "./nonzero.ts";
import { NORM_OPS } from "./norm.ts";
import { DEFORM_CONV_OPS } from "./deform_conv.ts";
import { EINSUM_OPS } from "./einsum.ts";
import { GRID_SAMPLE_OPS } from "./grid_sample.ts";
import { GRU_OPS } from "./gru.ts";
import { ROUND_HALF } from "./half.ts";
import { LEGACY_BROADCAST } from "./legacy.ts";
import { RANDOM_OPS } from "./random.ts";
import { RNN_OPS } from "./rnn.ts";
import { ROI_ALIGN_OPS } from "./roi_align.ts";
import { ROTARY_OPS } from "./rotary.ts";
import { QLINEAR_OPS } from "./qlinear.ts";
import { TENSOR_SCATTER_OPS } from "./tensor_scatter.ts";
import { LOSS_OPS } from "./loss.ts";
import { LSTM_OPS } from "./lstm.ts";
import { QUANTIZE_OPS } from "./quantize.ts";
import { SCATTER_OPS } from "./scatter.ts";
import { SEQUENCE_OPS } from "./sequence.ts";
import type { OpDef } from "./op.ts";
import { SHAPE_OPS } from "./shape.ts";
import { SIGNAL_OPS } from "./signal.ts";
import { UNARY_OPS } from "./unary.ts";
import { WINDOW_SCATTER_OPS } from "./window_scatter.ts";

const OPS: ReadonlyMap<string, OpDef> = new Map(Object.entries({
  ...UNARY_OPS,
  ...BINARY_OPS,
  ...SHAPE_OPS,
  ...MOVEMENT_OPS,
  ...NORM_OPS,
  ...CONV_OPS,
  ...RESIZE_OPS,
  ...MATH_OPS,
  ...INDEXING_OPS,
  ...SCATTER_OPS,
  ...QUANTIZE_OPS,
  ...EINSUM_OPS,
  ...LSTM_OPS,
  ...GRU_OPS,
  ...RNN_OPS,
  ...CONV_INTEGER_OPS,
  CausalConvWithState: CAUSAL_CONV_WITH_STATE,
  LinearAttention: LINEAR_ATTENTION,
  ...ATTENTION_OPS,
  ...ROTARY_OPS,
  ...TENSOR_SCATTER_OPS,
  ...QLINEAR_OPS,
  ...DEFAULT_DOMAIN_CONTRIB_OPS,
  ...CONTROL_OPS,
  ...NONZERO_OPS,
  ...NMS_OPS,
  ...SEQUENCE_OPS,
  ...MISC_OPS,
  ...GRID_SAMPLE_OPS,
  ...ROI_ALIGN_OPS,
  ...WINDOW_SCATTER_OPS,
  ...SIGNAL_OPS,
  ...RANDOM_OPS,
  ...LOSS_OPS,
  ...DEFORM_CONV_OPS,
  MatMul: MATMUL,
  Gemm: GEMM_OP,
}));

/** Ops that have a fused form (domain "njit"). */
const FUSED = new Set([
  "Conv",
  "ConvTranspose",
  "MatMul",
  "Gemm",
  "LayerNormalization",
  "BatchNormalization",
  "MatMulInteger",
]);

/** Ops that exist only as fusions make them (domain "njit"). */
const NJIT_ONLY: ReadonlyMap<string, OpDef> = new Map([
  ["ElementwiseChain", ELEMENTWISE_CHAIN],
  ["DotProductAttention", DOT_ATTENTION],
  ["RoundHalf", ROUND_HALF],
  ["LegacyBroadcast", LEGACY_BROADCAST],
]);

/** The definition of an op of the default domain (or a fused op of "njit"), or null. */
export function opDef(op: string, domain = ""): OpDef | null {
  if (domain === "com.microsoft") {
    return Object.hasOwn(MICROSOFT_OPS, op) ? MICROSOFT_OPS[op] : null;
  }
  if (domain === "ai.onnx.ml") return Object.hasOwn(ML_OPS, op) ? ML_OPS[op] : null;
  if (domain === "njit" && NJIT_ONLY.has(op)) return NJIT_ONLY.get(op)!;
  if (domain === "njit" && !FUSED.has(op)) return null;
  if (domain !== "" && domain !== "njit") return null;
  return OPS.get(op) ?? null;
}

/**
 * The op types we run, sorted: the default domain's by name, the others as
 * "domain:Op" (com.microsoft, ai.onnx.ml).
 */
export function supportedOps(): string[] {
  return [
    ...OPS.keys(),
    "Constant",
    ...Object.keys(MICROSOFT_OPS).map((k) => `com.microsoft:${k}`),
    ...Object.keys(ML_OPS).map((k) => `ai.onnx.ml:${k}`),
  ].sort();
}
