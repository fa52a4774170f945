/**
 * The conv2d family: reading, geometry, plan, generator, family object.
 *
 * @module
 */
export { CONV, CONV_TRANSPOSE, convReference } from "./family.ts";
export {
  CONV_TRANSPOSE_W_LANES_SLOT,
  CONV_TRANSPOSE_X_LINE_SLOT,
  type ConvTranspose2dOptions,
  phasesServeRepacked,
  readConvTranspose,
  transposedWeightShape,
  xLineMattersTransposed,
} from "./read_transpose.ts";
export type { AutoPad } from "../attributes.ts";
export {
  type Conv2dOptions,
  CONV_NHWC_SLOT,
  CONV_W_FINITE_SLOT,
  CONV_W_LANES_SLOT,
  CONV_X_LINE_SLOT,
  readConv,
  readLayout,
  type TensorLayout,
  xLineMatters,
  xLineOf,
} from "./read.ts";
export { CONV_ARG, type ConvSpec, outHeight, outWidth } from "./spec.ts";
export { type ConvPlan, planConv } from "./plan.ts";
export { generateConv } from "./generate.ts";
export { ConvWeights, type ConvWeightsOptions, RepackedWeights } from "./weights.ts";
export { depthwiseNhwcLevel, depthwiseNhwcWindowFits } from "./depthwise_nhwc.ts";
export { nhwcChannelVectorsLevel } from "./channel_vectors.ts";
export { channelVectorCopyLanes } from "./channel_vectors.ts";
