/**
 * A unary activation after Conv, ConvTranspose, Gemm, MatMul, a scaled
 * MatMulInteger (njit) or an unfolded BatchNormalization (fused or not, read by nothing else): applied in the
 * producer's epilogue, in registers. A float16 model's rounding to half
 * (RoundHalf, made by half.ts where ONNX Runtime casts) is one too: the
 * same bits as rounding the stored sums, without a pass over them.
 */
import { activationOf } from "../ops/unary.ts";
import type { Meta } from "../ops/op.ts";
import { type Fusion, GraphIndex, is, removeNodes } from "./fusion.ts";
import type { Graph, Node } from "../ir.ts";

const PRODUCERS = ["Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization"];

/** Whether a node is half.ts's rounding to half. */
const isRounding = (n: Node) => n.domain === "njit" && n.op === "RoundHalf";

export const ACTIVATION: Fusion = {
  name: "activation into its producer",
  apply: (g) => fuseActivations(g, false),
};

/**
 * The roundings to half alone, before the Transposes fuse into MatMuls: a
 * rounding between a MatMul and the Transpose of its output (a float16
 * attention's head merge) would keep the Transpose a copy.
 */
export const ROUNDING: Fusion = {
  name: "rounding to half into its producer",
  apply: (g) => fuseActivations(g, true),
};

function fuseActivations(g: Graph, roundingOnly: boolean): number {
  const idx = new GraphIndex(g), dead = new Set<Node>();
  let count = 0;
  for (const act of g.nodes) {
    const rounding = isRounding(act);
    if ((roundingOnly ? !rounding : act.domain !== "" && !rounding) || act.inputs.length === 0) {
      continue;
    }
    const p = idx.producer.get(act.inputs[0]) ?? null;
    // A MatMulInteger only in its fused form (float output, scaled in the kernel's store).
    const scaledIntegers = p?.op === "MatMulInteger" && p.domain === "njit";
    if (!p || !(scaledIntegers || PRODUCERS.some((op) => is(p, op, true)))) continue;
    if (p.fused?.activation) continue;
    if (p.outputs.length !== 1 || idx.soleReader(act.inputs[0]) !== act) continue;
    const ins: (Meta | null)[] = act.inputs.map((name) => {
      const c = name ? idx.constant(name) : null;
      return c ? { type: c.type, dims: c.dims, data: c.data } : null;
    });
    if (act.inputs.slice(1).some((name, i) => name !== "" && ins[i + 1] === null)) continue;
    let activation;
    try {
      activation = rounding ? "roundHalf" as const : activationOf(act, ins);
    } catch {
      continue; // bad attributes: left for the op to report
    }
    if (activation === null) continue;
    p.domain = "njit";
    p.fused = { ...p.fused, activation };
    p.outputs = [act.outputs[0]];
    dead.add(act);
    count++;
  }
  removeNodes(g, dead);
  return count;
}
