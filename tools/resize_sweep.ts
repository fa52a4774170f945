/**
 * Resize's nearest pixel picks against onnxruntime-node's (when installed):
 * every coordinate transform and nearest mode, widths 1-24 to 1-24 (Resize-13
 * with sizes on x = 0, 1, …): how many of the tables differ, and the first few.
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A tools/resize_sweep.ts
 *
 * @module
 */
import { Jit, type ResizeOptions } from "../mod.ts";
import { loadOrt } from "../tests/helpers/ort.ts";
import { GraphBuilder } from "./onnx_writer.ts";

const ort = await loadOrt();
if (ort === null) {
  console.log("onnxruntime-node is not installed (deno task compare-models fetches it)");
  Deno.exit(0);
}
using jit = new Jit({ threads: 1 });
const COORDS = ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"] as const;
const MODES = ["floor", "ceil", "round_prefer_floor", "round_prefer_ceil"] as const;
let differ = 0, total = 0;
const shown: string[] = [];
for (const coord of COORDS) {
  for (const nearest of MODES) {
    const g = new GraphBuilder(13);
    g.input("x", "float32", [1, 1, 1, "W"]);
    g.input("sizes", "int64", [4]);
    const y = g.op("Resize", ["x", "", "", "sizes"], {
      mode: "nearest",
      coordinate_transformation_mode: coord,
      nearest_mode: nearest,
    });
    g.output(y);
    const session = await ort.InferenceSession.create(g.toBytes());
    for (let w = 1; w <= 24; w++) {
      for (let ow = 1; ow <= 24; ow++) {
        const x = Float32Array.from({ length: w }, (_, i) => i);
        const sizes = BigInt64Array.from([1n, 1n, 1n, BigInt(ow)]);
        const out = await session.run({
          x: new ort.Tensor("float32", x, [1, 1, 1, w]),
          sizes: new ort.Tensor("int64", sizes, [4]),
        });
        const theirs = out[y].data as Float32Array, ours = new Float32Array(ow);
        const o: ResizeOptions = {
          n: 1,
          c: 1,
          h: 1,
          w,
          outH: 1,
          outW: ow,
          mode: "nearest",
          coordinateTransformationMode: coord,
          nearestMode: nearest,
        };
        jit.resize(x, ours, o);
        total++;
        if (ours.some((v, i) => v !== theirs[i])) {
          differ++;
          if (shown.length < 8) {
            shown.push(
              `${coord} ${nearest} ${w} → ${ow}: ours ${ours.join(",")}, ORT ${theirs.join(",")}`,
            );
          }
        }
      }
    }
    await session.release();
  }
}
console.log(`nearest tables differing from onnxruntime-node's: ${differ} of ${total}`);
for (const s of shown) console.log(`  ${s}`);
