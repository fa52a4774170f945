/**
 * `InferenceSession.create` of a zoo model, again and again in one process
 * (each session released before the next): every create's ms and the best
 * after the first (V8 warm, the large-memory pool reused). With a third
 * argument, sessions of those models are created and released first, three
 * each (as `deno task compare-models` does before the CNN): the pool then
 * holds their memory, not the model's own.
 *
 *   deno run -A bench/create_repeat.ts [model=cnn] [creates=6] [after=mlp1,mlp64,bert,...]
 *
 * @module
 */
import { InferenceSession } from "../mod.ts";
import { ZOO } from "../tools/model_zoo.ts";

const [name = "cnn", count = "6", after = ""] = Deno.args;
const others = after.split(",").filter((m) => m !== "");
for (const m of [name, ...others]) {
  if (ZOO[m] === undefined) {
    console.error(`no model ${m} in the zoo: ${Object.keys(ZOO).join(", ")}`);
    Deno.exit(2);
  }
}
for (const m of others) {
  const b = ZOO[m]().bytes;
  for (let i = 0; i < 3; i++) {
    await (await InferenceSession.create(b, { intraOpNumThreads: 1 })).release();
  }
}
const bytes = ZOO[name]().bytes, times: number[] = [];
for (let i = 0; i < Number(count); i++) {
  const t0 = performance.now();
  const s = await InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  times.push(performance.now() - t0);
  await s.release();
}
console.log(
  `${name}${others.length ? ` after ${others.join(",")}` : ""}: create ${
    times.map((t) => t.toFixed(1)).join(", ")
  } ms; best after the first ${Math.min(...times.slice(1)).toFixed(1)} ms`,
);
