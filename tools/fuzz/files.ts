/**
 * Damaged model files from a directory of backend test models (ONNX's node
 * tests as `tools/onnx_node_data.py` writes them: `<dir>/<case>/model.onnx`
 * and `test_data_set_0/input_*.pb`): each seed takes one model, truncates it
 * or flips one to four of its bits, then creates a session from the bytes
 * and runs it on the case's inputs. Each step succeeds or throws ONNX's
 * ModelError, a TypeError or a RangeError whose message is no JavaScript
 * slip ("undefined", "Cannot read", "is not a function"); a crash ends the
 * campaign (`--from` the last seed it printed reruns it).
 *
 *   deno run -A tools/fuzz/main.ts files --dir /tmp/onnxdata/node [--from 1] [--count 2000]
 *
 * @module
 */
import { InferenceSession, Tensor } from "../../mod.ts";
import { readTensor } from "../../src/onnx/model.ts";
import { materialize } from "../../src/onnx/tensor_data.ts";
import { WireReader } from "../../src/onnx/wire.ts";
import { type CaseResult, int, rng } from "./shared.ts";

/** A model's bytes and its first data set's feeds. */
interface Model {
  name: string;
  bytes: Uint8Array;
  feeds: Record<string, Tensor>;
}

let models: Model[] | null = null;
let loadedFrom = "";

/** The directory's models, read once (cases without readable inputs run with none). */
function load(dir: string): Model[] {
  if (models !== null && loadedFrom === dir) return models;
  const out: Model[] = [];
  for (const name of [...Deno.readDirSync(dir)].map((e) => e.name).sort()) {
    let bytes: Uint8Array;
    try {
      bytes = Deno.readFileSync(`${dir}/${name}/model.onnx`);
    } catch {
      continue;
    }
    const feeds: Record<string, Tensor> = {};
    try {
      const data = `${dir}/${name}/test_data_set_0`;
      for (const file of [...Deno.readDirSync(data)].map((e) => e.name).sort()) {
        if (!file.startsWith("input_")) continue;
        const t = readTensor(new WireReader(Deno.readFileSync(`${data}/${file}`), file), file);
        const c = materialize(t, null);
        feeds[t.name] = new Tensor(c.type as never, c.data as never, c.dims);
      }
    } catch {
      // No inputs we read (a sequence, a type we do not take): run with none.
    }
    out.push({ name, bytes, feeds });
  }
  if (out.length === 0) throw new Error(`files: no <case>/model.onnx under ${dir}`);
  models = out;
  loadedFrom = dir;
  return out;
}

/** Whether an error is one the boundary may throw: a named kind, no JavaScript slip. */
function clean(e: unknown): boolean {
  const kind = (e as Error)?.constructor?.name;
  const message = (e as Error)?.message ?? "";
  return ["ModelError", "TypeError", "RangeError"].includes(kind ?? "") &&
    !/undefined|Cannot read|is not a function/.test(message);
}

/** One seeded damaged model: created, then run, each step clean. */
export async function filesCase(seed: number, dir: string): Promise<CaseResult> {
  const all = load(dir), r = rng(seed);
  const m = all[int(r, 0, all.length - 1)];
  let bytes = m.bytes.slice(), damage: string;
  if (r() < 0.3) {
    const at = int(r, 0, bytes.length - 1);
    bytes = bytes.subarray(0, at);
    damage = `cut at ${at} of ${m.bytes.length}`;
  } else {
    const flips: string[] = [];
    for (let i = int(r, 1, 4); i > 0; i--) {
      const at = int(r, 0, bytes.length - 1), bit = int(r, 0, 7);
      bytes[at] ^= 1 << bit;
      flips.push(`${at}:${bit}`);
    }
    damage = `bits flipped ${flips.join(", ")}`;
  }
  let session: InferenceSession | null = null;
  try {
    session = await InferenceSession.create(bytes, { intraOpNumThreads: 1 });
    await session.run(m.feeds);
    return null;
  } catch (e) {
    if (clean(e)) return null;
    return `files seed ${seed}: ${m.name}, ${damage}: threw ${(e as Error)?.constructor?.name} ${
      (e as Error)?.message ?? e
    }`;
  } finally {
    await session?.release();
  }
}
