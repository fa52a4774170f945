/**
 * Transposes around a MatMul read and written through strides instead of
 * copied: Transpose → MatMul input (attention's Q, Kᵀ and V head splits)
 * when the perm leaves one of the last two axes contiguous, and MatMul →
 * Transpose (the head merge) when the perm keeps the last axis last. The
 * GEMM takes the strides as leading dimensions and per-batch offsets.
 */
import type { Node } from "../ir.ts";
import { type Fusion, GraphIndex, is, removeNodes } from "./fusion.ts";

/** Whether a perm of rank r keeps a contiguous axis among the two matrix axes. */
function inputPermOk(p: number[]): boolean {
  const r = p.length;
  return r >= 2 && (p[r - 1] === r - 1 || p[r - 2] === r - 1);
}

export const TRANSPOSE_MATMUL: Fusion = {
  name: "Transpose into MatMul",
  apply(g) {
    const idx = new GraphIndex(g), dead = new Set<Node>();
    let count = 0;
    for (const mm of g.nodes) {
      if (!is(mm, "MatMul", true) || dead.has(mm)) continue;
      const perms = mm.fused?.perms?.slice() ?? [null, null, null];
      let changed = false;
      for (let i = 0; i < 2; i++) {
        const t = idx.producer.get(mm.inputs[i]) ?? null;
        // A Transpose already folded into another MatMul's output is gone (the index predates it).
        if (perms[i] || !is(t, "Transpose") || dead.has(t) || idx.soleReader(mm.inputs[i]) !== mm) {
          continue;
        }
        const p = t.attrs.ints("perm");
        if (!p || !inputPermOk(p)) continue;
        mm.inputs = mm.inputs.slice();
        mm.inputs[i] = t.inputs[0];
        perms[i] = p;
        dead.add(t);
        changed = true;
      }
      const t = idx.soleReader(mm.outputs[0]);
      if (!perms[2] && is(t, "Transpose") && !dead.has(t)) {
        const p = t.attrs.ints("perm");
        if (p && p.length >= 2 && p[p.length - 1] === p.length - 1) {
          mm.outputs = [t.outputs[0]];
          perms[2] = p;
          dead.add(t);
          changed = true;
        }
      }
      if (!changed) continue;
      mm.domain = "njit";
      mm.fused = { ...mm.fused, perms };
      count++;
    }
    removeNodes(g, dead);
    return count;
  },
};
