/**
 * The GEMM generator: `(spec, plan) → program`. It knows nothing of caching
 * or dispatch; the runtime decides when to call it.
 *
 * @module
 */
import { Assembler, type Program, rdi, rdx, rsi } from "../../../asm/mod.ts";
import { loadPointer } from "../abi.ts";
import { emitRowsPass, streamsFor } from "../elementwise.ts";
import { UNARY_OPS } from "../unary/ops.ts";
import { Vec } from "../vec.ts";
import { ARG } from "./spec.ts";
import { vecIsa } from "../vec.ts";
import { emitDirectGemm } from "./direct.ts";
import { emitDotGemm } from "./dot.ts";
import { emitIkjGemm } from "./ikj.ts";
import { emitPackedGemm } from "./packed.ts";
import { emitScaleC } from "./scale.ts";
import { emitSkinnyGemm } from "./skinny.ts";
import type { GemmPlan } from "./plan.ts";
import type { GemmSpec } from "./spec.ts";

/** Emits the machine code of `plan` for `spec`: `void kernel(args)`. */
export function generateGemm(
  s: GemmSpec,
  plan: GemmPlan,
  options: { listing?: boolean } = {},
): Program {
  const a = new Assembler({ listing: options.listing ?? false });
  const isa = vecIsa(plan.isa);
  const epilogue = s.epilogue !== undefined && s.m > 0 && s.n > 0;
  const driver = a.label();
  if (epilogue) {
    // The driver runs as a subroutine, then one pass over C adds the bias and
    // applies the activation: the same code after every driver and K blocking.
    a.emit("push", rdi);
    a.emit("call", driver);
    a.emit("pop", rdi);
    emitEpilogue(a, s, plan.isa);
    a.emit("ret");
    a.bind(driver);
  }
  switch (plan.path) {
    case "empty":
      a.emit("ret");
      break;
    case "scale":
      emitScaleC(a, isa, s);
      break;
    case "ikj":
      emitIkjGemm(a, s);
      break;
    case "direct":
      emitDirectGemm(a, isa, s, plan.direct!);
      break;
    case "packed":
      emitPackedGemm(a, isa, s, plan.packed!);
      break;
    case "skinny":
      emitSkinnyGemm(a, isa, s);
      break;
    case "dot":
      emitDotGemm(a, isa, s);
      break;
  }
  return a.finish();
}

/** C = act(C + bias) over the m×n matrix at ARG.C (row stride ldc), at the plan's ISA. */
function emitEpilogue(a: Assembler, s: GemmSpec, level: GemmPlan["isa"]): void {
  const act = s.epilogue!.activation, bias = s.epilogue!.bias;
  const isa = vecIsa(level);
  loadPointer(a, rsi, ARG.C);
  if (bias) loadPointer(a, rdx, ARG.BIAS);
  const def = act ? UNARY_OPS[act.op] : null;
  emitRowsPass(a, isa, {
    rows: s.m,
    cols: s.n,
    x: rsi,
    xStride: s.ldc,
    y: rsi,
    yStride: 0,
    bias: bias ? rdx : undefined,
    f: def ? (m, y, x) => def.emit(m, y, x, act!.params) : null,
    streams: def ? streamsFor(def.flops) : 1,
  });
  new Vec(a, isa).leave();
}
