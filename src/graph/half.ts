/**
 * float16 models, as ONNX Runtime's CPU provider runs them: its float32
 * kernels take most ops (it drops the casts between them: values stay
 * float32), while the ops it has float16 kernels for — the data movers
 * (Transpose, Reshape, Concat, Slice, Gather, …) and LayerNormalization,
 * Clip, Max, Min, Floor, Ceil, Round — read halves, so a cast to half is
 * left before them, and the computing ones write halves. Here values are
 * float32 throughout, and RoundHalf nodes go where those casts are: on the
 * half inputs of such ops, and after the computing ones. Which values are
 * half is the model's typing: half constants and inputs, Cast to float16,
 * and every output of a node reading a half (but Cast's).
 */
import type { Graph, Node } from "./ir.ts";
import { Attrs } from "./ir.ts";

/**
 * Ops ONNX Runtime (1.30, x86 CPU) runs on halves: their half inputs are
 * rounded first. Each one seen to write halves in a float16 model there;
 * Identity, Tile, Pad and Dropout were seen not to.
 */
const MOVERS = new Set([
  "Transpose",
  "Reshape",
  "Concat",
  "Expand",
  "Slice",
  "Gather",
  "GatherElements",
  "Squeeze",
  "Unsqueeze",
  "Flatten",
  "Split",
]);
/** Ops with float16 kernels that compute: inputs and outputs rounded. */
const COMPUTERS = new Set(["LayerNormalization", "Clip", "Max", "Min", "Floor", "Ceil", "Round"]);

/**
 * Marks the half values and inserts the roundings. `seeds`: the values the
 * model declares half that the graph cannot tell (half graph inputs, the
 * outputs of casts to float16, which load made casts to float32). Returns
 * how many RoundHalf nodes were added.
 */
export function placeHalfRounding(g: Graph, seeds: ReadonlySet<string>): number {
  const half = new Set<string>(seeds);
  for (const [name, c] of g.constants) if (c.half) half.add(name);
  if (half.size === 0) return 0;
  const nodes: Node[] = [];
  const rounded = new Map<string, string>();
  let added = 0;
  const roundingOf = (value: string, at: string): string => {
    let r = rounded.get(value);
    if (r === undefined) {
      r = `${value}::half`;
      rounded.set(value, r);
      nodes.push(roundHalf(value, r, at));
      added++;
    }
    return r;
  };
  for (const n of g.nodes) {
    const isCast = n.domain === "" && n.op === "Cast";
    const readsHalf = n.inputs.some((v) => v !== "" && half.has(v));
    if (readsHalf && n.domain === "" && (MOVERS.has(n.op) || COMPUTERS.has(n.op))) {
      n.inputs = n.inputs.map((v) => (v !== "" && half.has(v) ? roundingOf(v, n.name) : v));
    }
    // A Cast writes halves when it cast to float16 (seeded); ConstantOfShape when its value is.
    const halfValue = n.op === "ConstantOfShape" && n.attrs.tensor("value")?.half === true;
    const halfOut = isCast ? half.has(n.outputs[0]) : readsHalf || halfValue;
    if (halfOut && !isCast && n.domain === "" && COMPUTERS.has(n.op)) {
      // The node writes halves: its outputs renamed, each rounded back to its name.
      const outs = n.outputs;
      n.outputs = outs.map((v) => (v === "" ? v : `${v}::float`));
      nodes.push(n);
      for (let i = 0; i < outs.length; i++) {
        if (outs[i] === "") continue;
        nodes.push(roundHalf(n.outputs[i], outs[i], n.name));
        added++;
      }
    } else nodes.push(n);
    if (halfOut) { for (const v of n.outputs) if (v !== "") half.add(v); }
  }
  g.nodes = nodes;
  return added;
}

function roundHalf(input: string, output: string, at: string): Node {
  return {
    op: "RoundHalf",
    domain: "njit",
    name: `${at}::half`,
    inputs: [input],
    outputs: [output],
    attrs: new Attrs(new Map(), `RoundHalf node '${at}::half'`),
    opset: 1,
  };
}
