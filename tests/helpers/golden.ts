/**
 * Model outputs against onnxruntime: live when ORT is installed (and then,
 * with NJIT_UPDATE_GOLDEN=1, written to tests/golden/models/), else against
 * the committed golden outputs. A model whose 8-bit GEMMs may saturate in
 * ORT (a CPU without VNNI, weights past ±64: see `ortMaySaturate`) takes
 * the golden outputs; ours do not saturate. Tolerance: max abs difference ≤ 1e-4 ×
 * max(1, max |reference|) for floats, exact for integers and bools. Each case
 * runs with optimizations on and off, sync and async.
 */
import assert from "node:assert/strict";
import { InferenceSession, type OptimizationLevel, Tensor, type TensorData } from "../../mod.ts";
import { loadOrt, ortInt8Exact, ortMaySaturate } from "./ort.ts";

/** A feed as the cases give it. */
export interface Feed {
  type: "float32" | "int64" | "int32" | "bool" | "uint8" | "string";
  dims: number[];
  data: TensorData | string[];
}

interface GoldenOutput {
  type: string;
  dims: number[];
  /** base64 of the little-endian element bytes (a string tensor: its strings). */
  data: string | string[];
}

/** An output's elements: a typed array, or a string tensor's strings. */
type OutputData = TensorData | string[];

const DIR = new URL("../golden/models/", import.meta.url);

function toBase64(d: TensorData): string {
  const b = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(type: string, s: string): TensorData {
  const bin = atob(s), bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  switch (type) {
    case "float32":
      return new Float32Array(bytes.buffer);
    case "int64":
      return new BigInt64Array(bytes.buffer);
    case "int32":
      return new Int32Array(bytes.buffer);
    case "int8":
      return new Int8Array(bytes.buffer);
    case "float64":
      return new Float64Array(bytes.buffer);
    case "int16":
      return new Int16Array(bytes.buffer);
    default:
      return bytes;
  }
}

/** The reference outputs of a case: ORT's (live) or the golden file's. */
export async function reference(
  name: string,
  bytes: Uint8Array,
  feeds: Record<string, Feed>,
  ortLevel: OptimizationLevel = "disabled",
): Promise<Record<string, { type: string; dims: number[]; data: OutputData }>> {
  const file = new URL(`${name.replace(/[^A-Za-z0-9_.-]/g, "_")}.json`, DIR);
  // Where ORT's 8-bit GEMMs saturate, the outputs it computed where they are exact (committed).
  const ort = !ortInt8Exact() && ortMaySaturate(bytes, ortLevel) ? null : await loadOrt();
  if (ort) {
    const s = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: 1,
      graphOptimizationLevel: ortLevel,
    });
    const f: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(feeds)) f[k] = new ort.Tensor(v.type, v.data, v.dims);
    const out = await s.run(f);
    const res: Record<string, { type: string; dims: number[]; data: OutputData }> = {};
    const golden: Record<string, GoldenOutput> = {};
    for (const k of Object.keys(out)) {
      const data = out[k].data as OutputData;
      res[k] = { type: out[k].type, dims: [...out[k].dims], data };
      golden[k] = {
        type: out[k].type,
        dims: [...out[k].dims],
        data: Array.isArray(data) ? data : toBase64(data),
      };
    }
    await s.release();
    if (Deno.env.get("NJIT_UPDATE_GOLDEN")) {
      Deno.writeTextFileSync(file, JSON.stringify(golden) + "\n");
    }
    return res;
  }
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch {
    throw new Error(`no golden outputs for '${name}' and onnxruntime-node is not installed`);
  }
  const golden = JSON.parse(text) as Record<string, GoldenOutput>;
  const res: Record<string, { type: string; dims: number[]; data: OutputData }> = {};
  for (const [k, g] of Object.entries(golden)) {
    res[k] = {
      type: g.type,
      dims: g.dims,
      data: Array.isArray(g.data) ? g.data : fromBase64(g.type, g.data),
    };
  }
  return res;
}

/** Asserts one output against its reference. */
export function assertClose(
  what: string,
  got: Tensor,
  want: { type: string; dims: number[]; data: OutputData },
): void {
  assert.deepEqual([...got.dims], want.dims, `${what}: dims`);
  assert.equal(got.type, want.type, `${what}: type`);
  if (want.type !== "float32") {
    assert.deepEqual(
      Array.from(got.data as ArrayLike<number>),
      Array.from(want.data as ArrayLike<number>),
      what,
    );
    return;
  }
  const a = got.data as Float32Array, b = want.data as Float32Array;
  let max = 0, diff = 0, at = -1;
  for (let i = 0; i < b.length; i++) if (Number.isFinite(b[i])) max = Math.max(max, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) {
    // NaN matches NaN and a value itself (an infinity too, whose difference would be NaN).
    if ((Number.isNaN(a[i]) && Number.isNaN(b[i])) || a[i] === b[i]) continue;
    const d = Number.isNaN(a[i]) || Number.isNaN(b[i]) ? Infinity : Math.abs(a[i] - b[i]);
    if (d > diff || at < 0) {
      diff = Math.max(diff, d);
      at = i;
    }
  }
  const tol = 1e-4 * Math.max(1, max);
  assert.ok(diff <= tol, `${what}: max |diff| ${diff} at ${at} (${a[at]} vs ${b[at]}) > ${tol}`);
}

/**
 * Runs a model case with every optimization level given and checks every
 * output against ONNX Runtime's at `ortLevel` (a QDQ model's: "all", where
 * it fuses the groups into 8-bit ops as ours does).
 */
export async function checkModel(
  name: string,
  bytes: Uint8Array,
  feeds: Record<string, Feed>,
  levels: OptimizationLevel[] = ["disabled", "all"],
  ortLevel: OptimizationLevel = "disabled",
): Promise<void> {
  const want = await reference(name, bytes, feeds, ortLevel);
  const tensors: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) tensors[k] = new Tensor(v.type, v.data, v.dims);
  for (const level of levels) {
    const s = await InferenceSession.create(bytes, {
      graphOptimizationLevel: level,
      intraOpNumThreads: 1,
    });
    try {
      const sync = s.runSync(tensors);
      const async = await s.run(tensors);
      assert.deepEqual(Object.keys(sync).sort(), Object.keys(want).sort(), `${name}: output names`);
      for (const k of Object.keys(want)) {
        assertClose(`${name} [${level}] ${k}`, sync[k], want[k]);
        assert.deepEqual(
          async[k].data,
          sync[k].data,
          `${name} [${level}] ${k}: run and runSync differ`,
        );
      }
    } finally {
      await s.release();
    }
  }
}
