/**
 * The GEMM generator: `(spec, plan) → program`. It knows nothing of caching
 * or dispatch; the runtime decides when to call it.
 *
 * @module
 */
import { Assembler, type Program } from "../../../asm/mod.ts";
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
