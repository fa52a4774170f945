/**
 * `InferenceSession.create(path)` as an application's first call: each
 * create in a fresh Deno process (module load excluded, the file cached by
 * the OS) started `--pause` seconds after the last one ended (an idle
 * guest's free memory is not what a process just freed:
 * `bench/page_faults.ts`), ours against onnxruntime-node 1.30 (skipped
 * with a note where it does not load), processes alternating; medians in
 * ms. Beside: reading the file alone, `Deno.readFileSync` against a buffer
 * of the file's size.
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/create_from_file.ts [--models mlp1,bert,cnn] [--rounds 3] [--pause 3]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ZOO } from "../tools/model_zoo.ts";
import { readFileLarge } from "../src/native/large_memory.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    models: { type: "string", default: "mlp1,bert,cnn" },
    rounds: { type: "string", default: "3" },
    pause: { type: "string", default: "3" },
    child: { type: "string" },
    path: { type: "string" },
  },
});

if (values.child) {
  // One create in this fresh process: ours or ORT's, the module loaded before the clock starts.
  const ours = values.child === "ours";
  const api = ours
    ? await import("../mod.ts")
    : await import(["npm:onnxruntime-node", "1.30.0"].join("@"));
  const t0 = performance.now();
  await api.InferenceSession.create(values.path!, { intraOpNumThreads: 1 });
  console.log(JSON.stringify({ ms: performance.now() - t0 }));
  Deno.exit(0);
}

const dir = Deno.makeTempDirSync();
const self = new URL(import.meta.url).pathname;
async function once(who: string, path: string): Promise<number | null> {
  await new Promise((done) => setTimeout(done, Number(values.pause) * 1000));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", self, "--child", who, "--path", path],
    env: { ONNXRUNTIME_NODE_INSTALL: "skip" },
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!out.success) return null;
  const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
  return JSON.parse(line).ms;
}
const med = (x: number[]) => x.sort((a, b) => a - b)[x.length >> 1];
console.log(
  `create(path), each in a fresh process ${values.pause} s after the last; medians of ${values.rounds}`,
);
try {
  for (const key of values.models.split(",")) {
    const m = ZOO[key]();
    const path = `${dir}/${key}.onnx`;
    Deno.writeFileSync(path, m.bytes);
    const ours: number[] = [], ort: number[] = [];
    for (let r = 0; r < Number(values.rounds); r++) {
      const a = await once("ours", path), b = await once("ort", path);
      if (a !== null) ours.push(a);
      if (b !== null) ort.push(b);
    }
    // Reading the file alone: Deno.readFileSync against a buffer of the file's size (this process).
    const reads: number[][] = [[], []];
    for (let r = 0; r < 3; r++) {
      let t = performance.now();
      Deno.readFileSync(path);
      reads[0].push(performance.now() - t);
      t = performance.now();
      readFileLarge(path);
      reads[1].push(performance.now() - t);
    }
    const theirs = ort.length ? `${med(ort).toFixed(1)} ms` : "— (onnxruntime-node did not load)";
    console.log(
      `${m.name.padEnd(52)} ${(m.bytes.length / 2 ** 20).toFixed(1).padStart(5)} MB  ours ${
        med(ours).toFixed(1)
      } ms (${ours.map((t) => t.toFixed(0)).join(", ")})  ORT ${theirs}${
        ort.length
          ? ` (${ort.map((t) => t.toFixed(0)).join(", ")})  ×${(med(ort) / med(ours)).toFixed(2)}`
          : ""
      }  read: readFileSync ${med(reads[0]).toFixed(1)} ms, into its size ${
        med(reads[1]).toFixed(1)
      } ms`,
    );
  }
} finally {
  Deno.removeSync(dir, { recursive: true });
}
