/**
 * Runs ONNX's own backend test models — each a directory with model.onnx and
 * test_data_set_*\/{input,output}_*.pb — through our InferenceSession, and
 * compares every output as onnx's backend runner does (|a − b| ≤ 1e-7 +
 * 1e-3·|b|, NaN equal to NaN, an infinity to itself). Prints each model that fails or is refused, and
 * the counts. The data lives in the onnx repository (onnx/backend/test/data:
 * pytorch-converted, pytorch-operator, simple, node, …); pass its directories.
 *
 *   deno run -A tools/onnx_backend.ts onnx/backend/test/data/pytorch-converted [more dirs]
 *   deno run -A tools/onnx_backend.ts --expect tests/onnx_node_passing.txt --quiet /tmp/onnxdata/node
 *
 * `--expect FILE`: every model named in FILE (one a line) must pass, else the
 * run exits 1 naming each that did not (the node tests' list: .ci/run).
 * `--quiet`: only those, not every model that fails.
 */
import { parseArgs } from "node:util";
import { InferenceSession, Tensor } from "../mod.ts";
import { readTensor } from "../src/onnx/model.ts";
import { materialize } from "../src/onnx/tensor_data.ts";
import { WireReader } from "../src/onnx/wire.ts";

/** ONNX's FLOAT16 data type. */
const FLOAT16 = 10;

/** ONNX's STRING data type: its elements are string_data, UTF-8. */
const STRING = 8;

function readPb(path: string) {
  const t = readTensor(new WireReader(Deno.readFileSync(path), path), path);
  if (t.dataType === STRING) {
    const text = new TextDecoder();
    return {
      name: t.name,
      c: { type: "string", dims: t.dims, data: t.strings.map((b) => text.decode(b)) },
    };
  }
  const c = materialize(t, null);
  // float16 comes out as float32 (exactly); a float16 graph input takes a Float16Array.
  if (t.dataType === FLOAT16) {
    return {
      name: t.name,
      c: { ...c, type: "float16", data: Float16Array.from(c.data as Float32Array) },
    };
  }
  return { name: t.name, c };
}

const sorted = (dir: string, prefix: string) =>
  [...Deno.readDirSync(dir)].map((e) => e.name).filter((f) => f.startsWith(prefix))
    .sort((a, b) => parseInt(a.slice(prefix.length)) - parseInt(b.slice(prefix.length)));

/** Runs one model directory's data sets; returns null when all match, else why not. */
async function check(dir: string): Promise<string | null> {
  let session: InferenceSession;
  try {
    session = await InferenceSession.create(`${dir}/model.onnx`, { intraOpNumThreads: 1 });
  } catch (e) {
    return `refused at create: ${(e as Error).message}`;
  }
  try {
    const sets = [...Deno.readDirSync(dir)].filter((e) => e.isDirectory).map((e) => e.name).sort();
    for (const set of sets) {
      const at = `${dir}/${set}`, feeds: Record<string, Tensor> = {};
      sorted(at, "input_").forEach((f, i) => {
        const { name, c } = readPb(`${at}/${f}`);
        feeds[name || session.inputNames[i]] = new Tensor(c.type as never, c.data as never, c.dims);
      });
      const got = await session.run(feeds);
      for (const [i, f] of sorted(at, "output_").entries()) {
        const { name, c } = readPb(`${at}/${f}`);
        const out = got[name || session.outputNames[i]];
        if (!out) return `${set}: no output '${name}'`;
        if (out.dims.join() !== c.dims.join()) {
          return `${set}: '${name}' is [${out.dims}], expected [${c.dims}]`;
        }
        const a = out.data as ArrayLike<number | bigint>, b = c.data as ArrayLike<number | bigint>;
        if (c.type === "string") {
          const k = (b as unknown as string[]).findIndex((v, i) =>
            v !== (a as unknown as string[])[i]
          );
          if (k >= 0) return `${set}: '${name}'[${k}] is ${a[k]}, expected ${b[k]}`;
          continue;
        }
        for (let k = 0; k < b.length; k++) {
          const x = Number(a[k]), y = Number(b[k]);
          // NaN matches NaN, and an infinity the same infinity (numpy's isclose, as onnx's runner).
          if ((Number.isNaN(x) && Number.isNaN(y)) || x === y) continue;
          if (!(Math.abs(x - y) <= 1e-7 + 1e-3 * Math.abs(y))) {
            return `${set}: '${name}'[${k}] is ${x}, expected ${y}`;
          }
        }
      }
    }
    return null;
  } catch (e) {
    return `failed at run: ${(e as Error).message}`;
  } finally {
    await session.release();
  }
}

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { expect: { type: "string" }, quiet: { type: "boolean", default: false } },
  allowPositionals: true,
});
// --expect FILE: the models listed there (a name a line) must pass; exits 1 when one does not.
const expected = values.expect
  ? new Set(Deno.readTextFileSync(values.expect).split("\n").map((l) => l.trim()).filter(Boolean))
  : null;
let passed = 0, failed = 0;
const regressed: string[] = [], seen = new Set<string>();
for (const root of positionals) {
  for (const name of [...Deno.readDirSync(root)].map((e) => e.name).sort()) {
    const dir = `${root}/${name}`;
    try {
      Deno.statSync(`${dir}/model.onnx`);
    } catch {
      continue;
    }
    seen.add(name);
    const why = await check(dir);
    if (why === null) passed++;
    else {
      failed++;
      if (expected?.has(name)) regressed.push(`${name}: ${why.slice(0, 240)}`);
      else if (!values.quiet) console.log(`${name}: ${why.slice(0, 240)}`);
    }
  }
}
console.log(`${passed} passed, ${failed} failed or refused`);
if (expected) {
  const missing = [...expected].filter((name) => !seen.has(name));
  for (const r of regressed) console.log(`REGRESSED ${r}`);
  for (const m of missing) console.log(`MISSING ${m} (listed in ${values.expect}, not found)`);
  if (regressed.length > 0 || missing.length > 0) Deno.exit(1);
  console.log(`all ${expected.size} listed in ${values.expect} pass`);
}
