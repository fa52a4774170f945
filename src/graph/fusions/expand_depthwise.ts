/**
 * A 1×1 Conv (one group, stride 1, no padding, no residual; its activation
 * fused) whose output only a depthwise Conv reads (as many groups as
 * channels, no residual): the depthwise joins the 1×1's node, which then
 * runs the pair by groups of channels where the expanded tensor passes L2
 * (MobileNetV2's 16→96 on 112² writes 4.8 MB and reads it back): the 1×1's
 * next channels, then their depthwise while they are in cache (ops/conv.ts,
 * `expandDepthwise`). A depthwise channel reads only its own plane, so the
 * groups give the pair's bits. The expanded tensor stays the node's second
 * output: its place in the arena is the groups' scratch, and where the
 * groups would not pay the pair runs whole through it, as before.
 */
import { type Fusion, GraphIndex, is, removeNodes } from "./fusion.ts";
import type { Node } from "../ir.ts";
import { FAMILY_WINDOW } from "../ops/window_im2col.ts";

/** Whether `n` is a Conv whose (constant) weights are 1×1 over one group, stride 1, no padding. */
function pointwise(n: Node, idx: GraphIndex): boolean {
  const w = idx.constant(n.inputs[1]);
  if (w === null || w.dims.length !== 4 || w.dims[2] !== 1 || w.dims[3] !== 1) return false;
  const all = (name: string, v: number) => (n.attrs.ints(name) ?? []).every((e) => e === v);
  const autoPad = n.attrs.string("auto_pad", "NOTSET");
  return n.attrs.int("group", 1) === 1 && all("strides", 1) && all("dilations", 1) &&
    all("pads", 0) && (autoPad === "NOTSET" || autoPad === "VALID");
}

/**
 * Whether `n` is a 2-D Conv over `channels` groups of one channel each, its weights constant and
 * its window one the convolution family takes (wider ones go through im2col, ops/window_im2col.ts).
 */
function depthwise(n: Node, channels: number, idx: GraphIndex): boolean {
  const w = idx.constant(n.inputs[1]);
  return w !== null && w.dims.length === 4 && w.dims[0] === channels && w.dims[1] === 1 &&
    n.attrs.int("group", 1) === channels && w.dims[2] <= FAMILY_WINDOW &&
    w.dims[3] <= FAMILY_WINDOW &&
    (n.attrs.ints("dilations") ?? []).every((d) => d <= FAMILY_WINDOW) &&
    (n.attrs.ints("strides") ?? []).every((s) => s <= FAMILY_WINDOW);
}

export const EXPAND_DEPTHWISE: Fusion = {
  name: "1×1 Conv into the depthwise Conv it feeds",
  apply(g) {
    const idx = new GraphIndex(g), dead = new Set<Node>();
    let count = 0;
    for (const a of g.nodes) {
      if (!is(a, "Conv", true) || dead.has(a) || a.fused?.depthwise) continue;
      if ((a.inputs[3] ?? "") !== "" || a.inputs.length > 4 || !pointwise(a, idx)) continue;
      const b = idx.soleReader(a.outputs[0]);
      if (!is(b, "Conv", true) || b.fused?.depthwise || b.inputs[0] !== a.outputs[0]) continue;
      if ((b.inputs[3] ?? "") !== "" || b.inputs.length > 4) continue;
      const channels = idx.constant(a.inputs[1])!.dims[0];
      if (!depthwise(b, channels, idx)) continue;
      a.domain = "njit";
      a.fused = { ...a.fused, depthwise: b };
      a.inputs = [a.inputs[0], a.inputs[1], a.inputs[2] ?? "", "", b.inputs[1], b.inputs[2] ?? ""];
      a.outputs = [b.outputs[0], a.outputs[0]];
      dead.add(b);
      count++;
    }
    removeNodes(g, dead);
    return count;
  },
};
