/**
 * `InferenceSession.create` of a zoo model, again and again in one process
 * (each session released before the next): every create's ms and the best
 * after the first (V8 warm, the large-memory pool reused).
 *
 *   deno run -A bench/create_repeat.ts [model=cnn] [creates=6]
 *
 * @module
 */
import { InferenceSession } from "../mod.ts";
import { ZOO } from "../tools/model_zoo.ts";

const [name = "cnn", count = "6"] = Deno.args;
const make = ZOO[name];
if (make === undefined) {
  console.error(`no model ${name} in the zoo: ${Object.keys(ZOO).join(", ")}`);
  Deno.exit(2);
}
const bytes = make().bytes, times: number[] = [];
for (let i = 0; i < Number(count); i++) {
  const t0 = performance.now();
  const s = await InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  times.push(performance.now() - t0);
  await s.release();
}
console.log(
  `${name}: create ${times.map((t) => t.toFixed(1)).join(", ")} ms; best after the first ${
    Math.min(...times.slice(1)).toFixed(1)
  } ms`,
);
