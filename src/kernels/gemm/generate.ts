/**
 * The GEMM generator: `(spec, plan) → program`. It knows nothing of caching
 * or dispatch; the runtime decides when to call it.
 *
 * @module
 */
import { Assembler, type Program, qword, rdi, rdx, rsi, rsp } from "../../../asm/mod.ts";
import { advanceSlot, ARG_BLOCK_BYTES, copyArgBlock, loadPointer } from "../abi.ts";
import { emitRowsPass } from "../elementwise.ts";
import { Vec, type VecIsa } from "../vec.ts";
import { ARG } from "./spec.ts";
import { vecIsa } from "../vec.ts";
import { type BlockStart, driverAppliesEpilogue, emitDirectGemm } from "./direct.ts";
import { epiloguePass } from "./epilogue.ts";
import { emitDotGemm } from "./dot.ts";
import { emitIkjGemm } from "./ikj.ts";
import { emitPackedGemm } from "./packed.ts";
import { emitScaleC } from "./scale.ts";
import { emitSkinnyGemm } from "./skinny.ts";
import { emitPanelGemm } from "./panels.ts";
import { type GemmPlan, panelView, peelsB } from "./plan.ts";
import type { GemmSpec } from "./spec.ts";

/** Emits the machine code of `plan` for `spec`: `void kernel(args)`. */
export function generateGemm(
  spec: GemmSpec,
  plan: GemmPlan,
  options: { listing?: boolean } = {},
): Program {
  const a = new Assembler({ listing: options.listing ?? false });
  const isa = vecIsa(plan.isa);
  // A batch: the one-matrix kernel below called per matrix on a copy of the argument block.
  const batch = spec.batch ?? 1;
  // A B copied into panels per call runs as B in panels (plan.ts panelView).
  const viewed = panelView(spec, plan);
  const s: GemmSpec = batch > 1
    ? { ...viewed, batch: 1, strideA: 0, strideB: 0, strideC: 0 }
    : viewed;
  const copy = plan.panelsCopied ? { isa, ldb: spec.ldb, transposed: spec.transB } : undefined;
  // A copy a K block at a time where the panel GEMM runs in blocks; `extra`: what a pass
  // after each panel's GEMM pushes between (rdi, and its call's return address).
  const copying = (extra: number) => copy ? { copy, kc: plan.direct?.kc, extra } : undefined;
  if (batch > 1 && s.m > 0 && s.n > 0) emitBatchLoop(a, spec, batch);
  // The direct driver applies the epilogue per tile of C itself (epilogue.ts); with B in
  // panels, it may go by a pass over each panel's C after the panel's driver (DirectPlan).
  const perPanel = s.epilogue !== undefined && s.bPanel !== undefined && s.m > 0 &&
    plan.path === "direct" && (plan.direct!.epilogueByPanel ?? false);
  const inDriver = plan.path === "direct" && !perPanel &&
    driverAppliesEpilogue(s, isa, plan.direct!);
  const epilogue = s.epilogue !== undefined && s.m > 0 && s.n > 0 && !inDriver && !perPanel;
  // The driver runs as a subroutine, then one pass over C adds the bias and
  // applies the activation: the same code after every driver and K blocking.
  if (epilogue) emitEpilogueAfter(a, s, plan.isa);
  const one = (s: GemmSpec, blockStart?: BlockStart) => {
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
        if (peelsB(s, plan.isa, plan.direct!)) emitPeeledDirect(a, isa, s, plan);
        else emitDirectGemm(a, isa, s, plan.direct!, blockStart);
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
  };
  // B in panels: the plan's path once per panel (each a plain row-major GEMM).
  const reads = plan.path !== "empty" && plan.path !== "scale";
  // Drivers see the epilogue only where they apply it.
  const driven: GemmSpec = inDriver ? s : { ...s, epilogue: undefined };
  if (s.bPanel && reads && perPanel) {
    // Each panel's driver as a subroutine, then the pass over the panel's C (its bias
    // advanced with it by emitPanelGemm): the same code as after the whole call's driver.
    emitPanelGemm(a, s, (ps, blockStart) => {
      emitEpilogueAfter(a, ps, plan.isa);
      one({ ...ps, epilogue: undefined }, blockStart);
    }, copying(16));
  } else if (s.bPanel && reads) emitPanelGemm(a, driven, one, copying(0));
  else one(driven);
  return a.finish();
}

/**
 * The direct driver twice, as subroutines on a copy of the argument block:
 * columns [0, bPeel), then [bPeel, n) with B, C and the bias advanced, so
 * each of the second call's strips starts on a 64-byte line of B.
 */
function emitPeeledDirect(a: Assembler, isa: VecIsa, s: GemmSpec, plan: GemmPlan): void {
  const peel = s.bPeel!, FRAME = ARG_BLOCK_BYTES + 8;
  const narrow = a.label(), rest = a.label();
  // Entered with rsp ≡ 8 (mod 16): the frame keeps calls 16-byte aligned.
  a.emit("sub", rsp, FRAME);
  a.emit("mov", qword(rsp, ARG_BLOCK_BYTES), rdi);
  copyArgBlock(a);
  a.emit("mov", rdi, rsp);
  a.emit("call", narrow);
  for (const slot of [ARG.B, ARG.C, ARG.BIAS]) advanceSlot(a, rsp, slot, peel * 4);
  a.emit("mov", rdi, rsp);
  a.emit("call", rest);
  a.emit("mov", rdi, qword(rsp, ARG_BLOCK_BYTES));
  a.emit("add", rsp, FRAME);
  a.emit("ret");
  a.bind(narrow);
  emitDirectGemm(a, isa, { ...s, n: peel, bPeel: 0 }, plan.direct!);
  a.bind(rest);
  emitDirectGemm(a, isa, { ...s, n: s.n - peel, bPeel: 0 }, plan.direct!);
}

/**
 * Calls the one-matrix kernel that follows (at the returned label's place:
 * bound here, right after) `batch` times, A, B and C advanced by their
 * strides in a copy of the argument block between calls. Entered with
 * rsp ≡ 8 (mod 16): the frame keeps the calls 16-byte aligned.
 */
function emitBatchLoop(a: Assembler, s: GemmSpec, batch: number): void {
  const single = a.label(), top = a.label();
  const SAVED = ARG_BLOCK_BYTES, COUNT = ARG_BLOCK_BYTES + 8, FRAME = ARG_BLOCK_BYTES + 24;
  a.emit("sub", rsp, FRAME);
  a.emit("mov", qword(rsp, SAVED), rdi);
  copyArgBlock(a);
  a.emit("mov", qword(rsp, COUNT), batch);
  a.bind(top);
  a.emit("mov", rdi, rsp);
  a.emit("call", single);
  for (const [slot, stride] of [[ARG.A, s.strideA], [ARG.B, s.strideB], [ARG.C, s.strideC]]) {
    if (stride) advanceSlot(a, rsp, slot!, stride * 4);
  }
  a.emit("dec", qword(rsp, COUNT));
  a.emit("jnz", top);
  a.emit("mov", rdi, qword(rsp, SAVED));
  a.emit("add", rsp, FRAME);
  a.emit("ret");
  a.bind(single);
}

/**
 * Calls the code emitted next (the driver, bound here as a subroutine),
 * then runs `s`'s epilogue over the C it wrote, and returns.
 */
function emitEpilogueAfter(a: Assembler, s: GemmSpec, level: GemmPlan["isa"]): void {
  const driver = a.label();
  a.emit("push", rdi);
  a.emit("call", driver);
  a.emit("pop", rdi);
  emitEpilogue(a, s, level);
  a.emit("ret");
  a.bind(driver);
}

/** C = act(C + bias) over the m×n matrix at ARG.C (row stride ldc), at the plan's ISA. */
function emitEpilogue(a: Assembler, s: GemmSpec, level: GemmPlan["isa"]): void {
  const isa = vecIsa(level), bias = s.epilogue!.bias;
  loadPointer(a, rsi, ARG.C);
  if (bias) loadPointer(a, rdx, ARG.BIAS);
  emitRowsPass(a, isa, epiloguePass(s, rsi, bias ? rdx : undefined, s.m, s.n));
  new Vec(a, isa).leave();
}
