/**
 * Resize's nearest pixel picks against onnxruntime-node's (when installed):
 * every coordinate transform and nearest mode, widths 1-`--in` to 1-`--out`
 * (Resize-13 with sizes on x = 0, 1, …): how many of the tables and of the
 * output indices differ, and the first few tables. `tests/resize_test.ts`
 * runs a smaller sweep live when onnxruntime-node is installed.
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A tools/resize_sweep.ts [--in 24] [--out 24]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit, type ResizeOptions } from "../mod.ts";
import { loadOrt, type Ort } from "../tests/helpers/ort.ts";
import { GraphBuilder } from "./onnx_writer.ts";

/** What a sweep found. */
export interface SweepResult {
  tables: number;
  tablesApart: number;
  indices: number;
  indicesApart: number;
  /** The first few tables apart, ours against ORT's. */
  shown: string[];
}

const COORDS = ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"] as const;
const MODES = ["floor", "ceil", "round_prefer_floor", "round_prefer_ceil"] as const;

/** Every nearest table of widths 1-`inMost` to 1-`outMost`, ours (jit.resize) against ORT's. */
export async function sweepNearest(
  ort: Ort,
  jit: Jit,
  inMost: number,
  outMost: number,
): Promise<SweepResult> {
  const r: SweepResult = { tables: 0, tablesApart: 0, indices: 0, indicesApart: 0, shown: [] };
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
      for (let w = 1; w <= inMost; w++) {
        for (let ow = 1; ow <= outMost; ow++) {
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
          r.tables++;
          r.indices += ow;
          let apart = 0;
          for (let i = 0; i < ow; i++) if (ours[i] !== theirs[i]) apart++;
          r.indicesApart += apart;
          if (apart === 0) continue;
          r.tablesApart++;
          if (r.shown.length < 8) {
            r.shown.push(
              `${coord} ${nearest} ${w} → ${ow}: ours ${ours.join(",")}, ORT ${theirs.join(",")}`,
            );
          }
        }
      }
      await session.release();
    }
  }
  return r;
}

if (import.meta.main) {
  const ort = await loadOrt();
  if (ort === null) {
    console.log("onnxruntime-node is not installed (deno task compare-models fetches it)");
    Deno.exit(0);
  }
  const { values } = parseArgs({
    args: Deno.args,
    options: { in: { type: "string", default: "24" }, out: { type: "string", default: "24" } },
  });
  using jit = new Jit({ threads: 1 });
  const r = await sweepNearest(ort, jit, Number(values.in), Number(values.out));
  console.log(
    `nearest tables differing from onnxruntime-node's: ${r.tablesApart} of ${r.tables} (output indices: ${r.indicesApart} of ${r.indices})`,
  );
  for (const s of r.shown) console.log(`  ${s}`);
}
