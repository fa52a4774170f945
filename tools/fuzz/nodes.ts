/**
 * Nodes the model builders share.
 *
 * @module
 */
import { f, type GraphBuilder } from "../onnx_writer.ts";

/**
 * A BatchNormalization of x's `c` channels with random statistics (scale and
 * variance near 1, bias and mean near 0); `rand(n, s)` draws n values in
 * [−s, s). Returns its output.
 */
export function batchNormNode(
  g: GraphBuilder,
  x: string,
  c: number,
  rand: (n: number, s: number) => number[],
): string {
  return g.op("BatchNormalization", [
    x,
    g.weight(g.fresh("s"), [c], rand(c, 0.3).map((v) => 1 + v)),
    g.weight(g.fresh("bb"), [c], rand(c, 0.2)),
    g.weight(g.fresh("m"), [c], rand(c, 0.2)),
    g.weight(g.fresh("v"), [c], rand(c, 0.3).map((v) => 1 + v)),
  ], { epsilon: f(1e-5) });
}
