/**
 * Runs ONNX's own backend test models — each a directory with model.onnx and
 * test_data_set_*\/{input,output}_*.pb — through our InferenceSession, and
 * compares every output as onnx's backend runner does (|a − b| ≤ 1e-7 +
 * 1e-3·|b|, NaN equal to NaN, an infinity to itself). Prints each model that fails or is refused, and
 * the counts. The data lives in the onnx repository (onnx/backend/test/data:
 * pytorch-converted, pytorch-operator, simple, node, …); pass its directories.
 *
 *   deno run -A tools/onnx_backend.ts onnx/backend/test/data/pytorch-converted [more dirs]
 */
import { InferenceSession, Tensor } from "../mod.ts";
import { readTensor } from "../src/onnx/model.ts";
import { materialize } from "../src/onnx/tensor_data.ts";
import { WireReader } from "../src/onnx/wire.ts";

/** ONNX's FLOAT16 data type. */
const FLOAT16 = 10;

function readPb(path: string) {
  const t = readTensor(new WireReader(Deno.readFileSync(path), path), path);
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

let passed = 0, failed = 0;
for (const root of Deno.args) {
  for (const name of [...Deno.readDirSync(root)].map((e) => e.name).sort()) {
    const dir = `${root}/${name}`;
    try {
      Deno.statSync(`${dir}/model.onnx`);
    } catch {
      continue;
    }
    const why = await check(dir);
    if (why === null) passed++;
    else {
      failed++;
      console.log(`${name}: ${why.slice(0, 240)}`);
    }
  }
}
console.log(`${passed} passed, ${failed} failed or refused`);
