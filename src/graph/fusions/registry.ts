/** The fusions in the order they run: adding one is a module plus its line here. */
import { ACTIVATION, ROUNDING } from "./activation.ts";
import { ADD_LAYERNORM } from "./add_layernorm.ts";
import { AFFINE_INTO_BATCHNORM } from "./batchnorm_affine.ts";
import { BATCHNORM_INTO_CONV } from "./batchnorm_conv.ts";
import { CONV_RESIDUAL } from "./conv_residual.ts";
import { ELEMENTWISE_CHAIN_FUSION } from "./elementwise_chain.ts";
import { EXPAND_DEPTHWISE } from "./expand_depthwise.ts";
import { FAKE_QUANT } from "./fake_quant.ts";
import type { Fusion } from "./fusion.ts";
import { GELU } from "./gelu.ts";
import { HARD_SWISH } from "./hardswish.ts";
import { LAYERNORM } from "./layernorm.ts";
import { MATMUL_ADDEND } from "./matmul_addend.ts";
import { DOT_ATTENTION_FUSION } from "./dot_attention.ts";
import { MATMUL_BIAS } from "./matmul_bias.ts";
import { MATMUL_BIAS_GELU } from "./matmul_bias_gelu.ts";
import { MATMUL_INTEGER_BIAS } from "./matmul_integer_bias.ts";
import { MATMUL_INTEGER_SCALE } from "./matmul_integer_scale.ts";
import { MATMUL_SCALE } from "./matmul_scale.ts";
import { QDQ_GROUPS } from "./qdq.ts";
import { SKIP_NORM_BIAS } from "./skip_norm_bias.ts";
import { TRANSPOSE_MATMUL } from "./transpose_matmul.ts";

/**
 * The fusions that run before constant folding: patterns of DequantizeLinear
 * nodes whose inputs are constants (folding would turn them into float
 * weights).
 */
export const FUSIONS_BEFORE_FOLDING: readonly Fusion[] = [QDQ_GROUPS];

export const FUSIONS: readonly Fusion[] = [
  AFFINE_INTO_BATCHNORM,
  BATCHNORM_INTO_CONV,
  LAYERNORM,
  GELU,
  HARD_SWISH,
  MATMUL_BIAS,
  MATMUL_BIAS_GELU,
  SKIP_NORM_BIAS,
  MATMUL_INTEGER_SCALE,
  MATMUL_INTEGER_BIAS,
  ROUNDING,
  TRANSPOSE_MATMUL,
  MATMUL_SCALE,
  CONV_RESIDUAL,
  ACTIVATION,
  // After both convs took their activations (and residuals: a pair with one is left alone).
  EXPAND_DEPTHWISE,
  ADD_LAYERNORM,
  // After Add + LayerNormalization: a residual Add before a norm is that one's.
  MATMUL_ADDEND,
  // After the MatMuls took their transposes, scale and mask.
  DOT_ATTENTION_FUSION,
  FAKE_QUANT,
  ELEMENTWISE_CHAIN_FUSION,
];
