/**
 * ONNX Runtime's com.microsoft QOperator ops around QLinearConv and
 * QLinearMatMul — what its static quantizer writes for the rest of a CNN —
 * each computed the way its CPU kernels compute it, so the bytes are its
 * bytes: the elementwise ops (qlinear_elementwise.ts), the pools
 * (qlinear_pool.ts) and QGemm (qgemm.ts).
 */
import type { OpDef } from "./op.ts";
import { QGEMM_OPS } from "./qgemm.ts";
import { QLINEAR_ELEMENTWISE_OPS } from "./qlinear_elementwise.ts";
import { QLINEAR_POOL_OPS } from "./qlinear_pool.ts";

/** The com.microsoft QOperator ops. */
export const QLINEAR_MS_OPS: Record<string, OpDef> = {
  ...QLINEAR_ELEMENTWISE_OPS,
  ...QLINEAR_POOL_OPS,
  ...QGEMM_OPS,
};
