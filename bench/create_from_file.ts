/**
 * `InferenceSession.create(path)` and the first two runs as an
 * application's first calls: each create in a fresh Deno process (module load excluded, the file cached by
 * the OS) started `--pause` seconds after the last one ended (an idle
 * guest's free memory is not what a process just freed:
 * `bench/page_faults.ts`), ours against onnxruntime-node 1.30 (skipped
 * with a note where it does not load), processes alternating; medians in
 * ms. Then the same processes' first run (ours builds its plan and
 * compiles its kernels there) and second run. Ours runs twice a round:
 * on an empty code cache (`NJIT_CODE_CACHE`: its kernels generated and
 * kept), then on the kernels that process kept. Beside: reading the file
 * alone, `Deno.readFileSync` against a buffer of the file's size.
 *
 * The module load (`import`) is timed too, printed apart: a script's or a
 * serverless function's first answer pays it as well. So is the memory
 * the session holds: the process's resident set after the two runs less
 * before the create (the model file's bytes read, weights packed, the
 * runs' buffers and code).
 *
 * `--sync`: our runs by `runSync` on the calling thread (ORT's by `run`).
 * `--threads n`: the sessions' intraOpNumThreads (1).
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/create_from_file.ts [--models mlp1,bert,cnn] [--rounds 3] [--pause 3] [--sync] [--threads 1]
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
    feeds: { type: "string" },
    sync: { type: "boolean", default: false },
    threads: { type: "string", default: "1" },
  },
});

if (values.child) {
  // One create and two runs in this fresh process: ours or ORT's, the module loaded (timed
  // apart) and the feeds made before the clock starts.
  const ours = values.child === "ours";
  const loading = performance.now();
  const api = ours
    ? await import("../mod.ts")
    : await import(["npm:onnxruntime-node", "1.30.0"].join("@"));
  const importMs = performance.now() - loading;
  const feeds: Record<string, unknown> = {};
  // The feeds the parent wrote (the model is not built here: its garbage would weigh in the
  // memory measured and its writer's code in the process's warm-up).
  const written = JSON.parse(Deno.readTextFileSync(values.feeds!)) as ReturnType<
    (typeof ZOO)[string]
  >["feeds"];
  for (const [name, f] of Object.entries(written)) {
    const values = f.data as unknown as number[];
    const data = f.type === "int64"
      ? BigInt64Array.from(values, (x) => BigInt(x))
      : f.type === "int32"
      ? Int32Array.from(values)
      : Float32Array.from(values);
    feeds[name] = new api.Tensor(f.type, data, f.dims);
  }
  const rssBefore = Deno.memoryUsage().rss;
  let t0 = performance.now();
  const threads = Number(values.threads);
  const session = await api.InferenceSession.create(values.path!, { intraOpNumThreads: threads });
  const ms = performance.now() - t0;
  const runs: number[] = [];
  for (let i = 0; i < 2; i++) {
    t0 = performance.now();
    // --sync: ours by runSync (the calling thread); ORT has only run.
    if (ours && values.sync) (session as { runSync(f: unknown): unknown }).runSync(feeds);
    else await session.run(feeds);
    runs.push(performance.now() - t0);
  }
  const heldMb = (Deno.memoryUsage().rss - rssBefore) / 2 ** 20;
  console.log(JSON.stringify({ importMs, ms, first: runs[0], second: runs[1], heldMb }));
  Deno.exit(0);
}

const dir = Deno.makeTempDirSync();
const self = new URL(import.meta.url).pathname;
interface Sample {
  importMs: number;
  ms: number;
  first: number;
  second: number;
  heldMb: number;
}
/** One fresh process (its feeds written at `feedsPath`); ours with the code cache at `codeCache` (its kernels generated there when empty). */
async function once(
  who: string,
  feedsPath: string,
  path: string,
  codeCache = "off",
): Promise<Sample | null> {
  await new Promise((done) => setTimeout(done, Number(values.pause) * 1000));
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      self,
      "--child",
      who,
      "--path",
      path,
      "--feeds",
      feedsPath,
      ...(values.sync ? ["--sync"] : []),
      "--threads",
      values.threads,
    ],
    env: { ONNXRUNTIME_NODE_INSTALL: "skip", NJIT_CODE_CACHE: codeCache },
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!out.success) return null;
  const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
  return JSON.parse(line);
}
const med = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1];
const runsLine = (who: string, x: Sample[]) =>
  `${who} first run ${med(x.map((s) => s.first)).toFixed(1)} ms (${
    x.map((s) => s.first.toFixed(0)).join(", ")
  }), second ${med(x.map((s) => s.second)).toFixed(1)}, import ${
    med(x.map((s) => s.importMs)).toFixed(1)
  }, memory held ${med(x.map((s) => s.heldMb)).toFixed(0)} MB`;
console.log(
  `create(path), each in a fresh process ${values.pause} s after the last; medians of ${values.rounds}; ${values.threads} thread(s)`,
);
try {
  for (const key of values.models.split(",")) {
    const m = ZOO[key]();
    const path = `${dir}/${key}.onnx`;
    Deno.writeFileSync(path, m.bytes);
    const feedsPath = `${dir}/${key}.feeds.json`;
    Deno.writeTextFileSync(
      feedsPath,
      JSON.stringify(
        m.feeds,
        (_, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array, Number) : v),
      ),
    );
    const oursRuns: Sample[] = [], ortRuns: Sample[] = [], warmRuns: Sample[] = [];
    for (let r = 0; r < Number(values.rounds); r++) {
      // Ours with an empty code cache (the process generates every kernel and keeps it),
      // then a process on what that one kept, then ORT.
      const cache = Deno.makeTempDirSync({ dir });
      const a = await once("ours", feedsPath, path, cache);
      const w = await once("ours", feedsPath, path, cache);
      const b = await once("ort", feedsPath, path);
      if (a !== null) oursRuns.push(a);
      if (w !== null) warmRuns.push(w);
      if (b !== null) ortRuns.push(b);
    }
    const ours = oursRuns.map((s) => s.ms), ort = ortRuns.map((s) => s.ms);
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
    console.log(
      `${"".padEnd(60)}${runsLine("ours", oursRuns)}${
        ortRuns.length ? `;  ORT ${runsLine("", ortRuns).trim()}` : ""
      }`,
    );
    const warm = warmRuns.map((s) => s.ms);
    console.log(
      `${"".padEnd(60)}ours on the kernels an earlier process kept (code cache): create ${
        med(warm).toFixed(1)
      } ms (${warm.map((t) => t.toFixed(0)).join(", ")}); ${runsLine("", warmRuns).trim()}`,
    );
  }
} finally {
  Deno.removeSync(dir, { recursive: true });
}
