/**
 * Runs GEMM machine code outside the runtime: installs it, fills an
 * argument block with the operands and a 64-byte aligned workspace, calls
 * it once and frees it (tests of a driver or a plan the runtime would not
 * choose).
 */
import { ARG } from "../../src/kernels/gemm/spec.ts";
import type { CodeArena } from "../../src/native/arena.ts";
import { dispatch } from "../../src/native/dispatch.ts";
import { NativeBlock, viewAddress } from "../../src/native/memory.ts";

/** The operands of one call; the bias only when the code reads one. */
export interface GemmOperands {
  a: Float32Array;
  b: Float32Array;
  c: Float32Array;
  bias?: Float32Array;
}

/** Calls `code` once on the operands with `workspaceBytes` of workspace. */
export function runGemmCode(
  arena: CodeArena,
  code: Uint8Array,
  o: GemmOperands,
  workspaceBytes: number,
): void {
  const block = arena.install(code);
  const ws = new Float32Array(workspaceBytes / 4 + 32);
  const args = new NativeBlock(64);
  args.f64[ARG.A] = viewAddress(o.a);
  args.f64[ARG.B] = viewAddress(o.b);
  if (o.bias) args.f64[ARG.BIAS] = viewAddress(o.bias);
  args.f64[ARG.C] = viewAddress(o.c);
  args.f64[ARG.WORK] = viewAddress(ws) + ((64 - (viewAddress(ws) % 64)) % 64);
  dispatch().call(block.pointer, args.pointer);
  arena.free(block);
}
