/** A call's full GemmSpec for the f64 reference: the options read as `jit.gemm` reads them. */
import { emptySpec, type GemmOptions, readGemmShape } from "../../src/kernels/gemm/read.ts";
import type { GemmSpec } from "../../src/kernels/gemm/spec.ts";

/** m, n, k, transposes, alpha, beta and leading dimensions, defaulted as `jit.gemm` does. */
export function gemmSpec(o: GemmOptions): GemmSpec {
  const s = emptySpec();
  readGemmShape(o, s);
  return s;
}
