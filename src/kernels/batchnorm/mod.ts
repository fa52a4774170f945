/**
 * The batchNorm family and the folding of BatchNormalization into a
 * convolution's weights.
 *
 * @module
 */
export { BATCHNORM, batchNormReference } from "./family.ts";
export { type BatchNormOptions, type BatchNormSpec, readBatchNorm } from "./read.ts";
export {
  foldBatchNorm,
  type FoldedConv,
  type FoldOptions,
  type FoldProduct,
  foldProduct,
  prepareFold,
} from "./fold.ts";
