/**
 * A fresh process's first inference: each process imports the engine,
 * creates a session and runs it twice, timing each step; the medians over
 * several processes are printed, ours beside onnxruntime-node's (when it is
 * installed) for the same model from `tools/model_zoo.ts`. What a script,
 * a CLI or a serverless function pays before its first answer. Our first
 * run compiles its kernels (or reads them from the code cache, on by
 * default; `--cache off` compiles every kernel).
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/cold_start.ts [--models mobilenet,bert]
 *       [--threads 1,2] [--processes 5] [--cache on|off]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ZOO } from "../tools/model_zoo.ts";
import { median } from "./timing.ts";

/** One process's times, ms. */
interface ColdTimes {
  import: number;
  create: number;
  first: number;
  second: number;
}

const { values } = parseArgs({
  options: {
    models: { type: "string", default: "mobilenet,bert" },
    threads: { type: "string", default: "1,2" },
    processes: { type: "string", default: "5" },
    cache: { type: "string", default: "on" },
    child: { type: "string" },
  },
});

if (values.child) {
  // deno run -A bench/cold_start.ts --child engine,model,threads
  const [engine, model, threads] = values.child.split(",");
  const m = ZOO[model]();
  const t0 = performance.now();
  // deno-lint-ignore no-explicit-any
  const lib: any = engine === "ours"
    ? await import("../mod.ts")
    // A computed specifier: `deno check` must not fetch the package for this file.
    : await import(["npm:onnxruntime-node", "1.30.0"].join("@"));
  const t1 = performance.now();
  const s = await lib.InferenceSession.create(m.bytes, { intraOpNumThreads: Number(threads) });
  const t2 = performance.now();
  const feeds: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m.feeds)) feeds[k] = new lib.Tensor(v.type, v.data, v.dims);
  const t3 = performance.now();
  await s.run(feeds);
  const t4 = performance.now();
  await s.run(feeds);
  const t5 = performance.now();
  const times: ColdTimes = { import: t1 - t0, create: t2 - t1, first: t4 - t3, second: t5 - t4 };
  console.log(JSON.stringify(times));
  Deno.exit(0); // ORT's threads must not hold the process
}

async function child(engine: string, model: string, threads: string): Promise<ColdTimes | null> {
  const env: Record<string, string> = { ONNXRUNTIME_NODE_INSTALL: "skip" };
  if (values.cache === "off") env.NJIT_CODE_CACHE = "off";
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--child", `${engine},${model},${threads}`],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    if (engine === "ort") return null;
    throw new Error(new TextDecoder().decode(out.stderr));
  }
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

const fmt = (v: number) => v.toFixed(1).padStart(7);
console.log(
  `cold start, median of ${values.processes} fresh processes per row (ms); code cache ${values.cache}`,
);
console.log(
  `${"model".padEnd(12)} thr  engine   import  create   first  second  import→first answer`,
);
for (const model of values.models.split(",")) {
  for (const threads of values.threads.split(",")) {
    const rows: Record<string, ColdTimes[]> = { ours: [], ort: [] };
    // Taking turns, so drift on a shared machine falls on both.
    for (let p = 0; p < Number(values.processes); p++) {
      for (const engine of ["ours", "ort"]) {
        const t = await child(engine, model, threads);
        if (t) rows[engine].push(t);
      }
    }
    for (const engine of ["ours", "ort"]) {
      const r = rows[engine];
      if (r.length === 0) {
        console.log(`${model.padEnd(12)} ${threads.padStart(3)}  ${engine.padEnd(6)}  (not installed)`);
        continue;
      }
      const m = (k: keyof ColdTimes) => median(r.map((t) => t[k]));
      const total = median(r.map((t) => t.import + t.create + t.first));
      console.log(
        `${model.padEnd(12)} ${threads.padStart(3)}  ${engine.padEnd(6)} ${fmt(m("import"))} ${
          fmt(m("create"))
        } ${fmt(m("first"))} ${fmt(m("second"))} ${fmt(total)}`,
      );
    }
  }
}
