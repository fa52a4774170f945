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
 *
 * One exception, as observed (ONNX Runtime 1.30 forces some float16 nodes
 * to float32 when only float32 kernels surround them): a computing node
 * whose output feeds two or more nodes, all of them float32 kernels (not
 * a Cast, a mover or another such node), and is no graph output, computes
 * in float32: no rounding on either side. (A mover there still rounds; so
 * does the same node feeding one float32 kernel.)
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
  const readers = new Map<string, Node[]>();
  for (const n of g.nodes) {
    for (const v of n.inputs) {
      if (v === "") continue;
      const r = readers.get(v);
      if (r) r.push(n);
      else readers.set(v, [n]);
    }
  }
  const outputs = new Set(g.outputs.map((v) => v.name));
  const halfKernel = (n: Node) =>
    n.domain === "" && (n.op === "Cast" || MOVERS.has(n.op) || COMPUTERS.has(n.op));
  /** A computing node ONNX Runtime runs in float32 (the exception above). */
  const forcedToFloat = (n: Node) =>
    n.outputs.every((v) => {
      const r = readers.get(v) ?? [];
      return v === "" || (!outputs.has(v) && r.length >= 2 && !r.some(halfKernel));
    });
  for (const n of g.nodes) {
    const isCast = n.domain === "" && n.op === "Cast";
    const readsHalf = n.inputs.some((v) => v !== "" && half.has(v));
    const computes = n.domain === "" && COMPUTERS.has(n.op) && !forcedToFloat(n);
    if (readsHalf && n.domain === "" && (MOVERS.has(n.op) || computes)) {
      n.inputs = n.inputs.map((v) => (v !== "" && half.has(v) ? roundingOf(v, n.name) : v));
    }
    // A Cast writes halves when it cast to float16 (seeded); ConstantOfShape when its value is.
    const halfValue = n.op === "ConstantOfShape" && n.attrs.tensor("value")?.half === true;
    // CastLike writes its second input's type.
    const halfOut = isCast
      ? half.has(n.outputs[0])
      : n.domain === "" && n.op === "CastLike"
      ? half.has(n.inputs[1])
      : readsHalf || halfValue;
    if (halfOut && !isCast && computes) {
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
