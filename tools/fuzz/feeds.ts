/**
 * A session's boundary under wrong feeds and fetches: tensors (real ones and
 * tensor-likes) of the wrong type, dims, data kind or length, missing, extra
 * or null inputs, unknown or malformed fetches, through `runSync` and `run`.
 * Each call returns or throws a TypeError or RangeError whose message names
 * the input or output (no "undefined", "Cannot read", "is not a function"),
 * and a valid run afterwards still gives the first one's bits.
 *
 * @module
 */
import { InferenceSession, Tensor } from "../../mod.ts";
import { mlp } from "../model_zoo.ts";
import { type CaseResult, int, pick, rng } from "./shared.ts";

let session: InferenceSession | null = null;
let reference: Float32Array | null = null;
const x = Float32Array.from({ length: 2 * 12 }, (_, i) => Math.sin(i));

/** One seeded wrong call, then a right one. */
export async function feedsCase(seed: number): Promise<CaseResult> {
  if (session === null) {
    session = await InferenceSession.create(mlp([12, 8, 3], 2).bytes, { intraOpNumThreads: 1 });
    reference = Object.values(session.runSync({ input: new Tensor("float32", x, [2, 12]) }))[0]
      .data as Float32Array;
  }
  const s = session, r = rng(seed);
  const dims = pick(r, [
    [2, 12],
    [24],
    [2, 11],
    [3, 12],
    [-1, 12],
    [1.5, 12],
    [],
    [2, 12, 1],
    null,
    "2,12",
    [2 ** 31, 12],
    [0, 12],
  ]);
  const length = pick(r, [24, 23, 48, 0]);
  const data = pick(r, [
    new Float32Array(length),
    new Float64Array(length),
    new Int32Array(length),
    new Uint8Array(length),
    new Uint16Array(length),
    new Uint32Array(length),
    new BigUint64Array(length),
    [1, 2, 3],
    null,
    "x",
  ]);
  const type = pick(r, [
    "float32",
    "int32",
    "float64",
    "uint8",
    "bogus",
    "float16",
    "bool",
    "uint16",
    "uint32",
    "uint64",
  ]);
  let tensor: unknown;
  try {
    tensor = r() < 0.4
      ? { type, data, dims }
      : new Tensor(type as never, data as never, dims as never);
  } catch (e) {
    // The Tensor constructor's own checks: a TypeError or RangeError.
    if (e instanceof TypeError || e instanceof RangeError) return null;
    return `feeds seed ${seed}: new Tensor threw ${(e as Error)?.name}: ${(e as Error)?.message}`;
  }
  const feeds = pick(r, [
    { input: tensor },
    { wrong: tensor },
    { input: tensor, extra: tensor },
    {},
    null,
    tensor,
    { input: null },
    { input: undefined },
  ]);
  const fetches = pick(r, [undefined, ["logits"], ["nope"], { logits: null }, {}, [], "logits", [
    1,
  ]]);
  const what = `type ${type}, data ${
    ArrayBuffer.isView(data) ? data.constructor.name : typeof data
  }(${ArrayBuffer.isView(data) ? (data as Float32Array).length : ""}), dims ${
    JSON.stringify(dims)
  }, fetches ${JSON.stringify(fetches)}`;
  try {
    if (int(r, 0, 1) === 0) s.runSync(feeds as never, fetches as never);
    else await s.run(feeds as never, fetches as never);
  } catch (e) {
    const err = e as Error;
    if (!(err instanceof TypeError || err instanceof RangeError)) {
      return `feeds seed ${seed} (${what}): threw ${err?.name}: ${err?.message}`;
    }
    if (/undefined|Cannot read|is not a function/.test(err.message)) {
      return `feeds seed ${seed} (${what}): an internal message: ${err.message}`;
    }
  }
  // The session still runs right.
  const again = Object.values(s.runSync({ input: new Tensor("float32", x, [2, 12]) }))[0]
    .data as Float32Array;
  if (again.some((v, i) => !Object.is(v, reference![i]))) {
    return `feeds seed ${seed} (${what}): the next valid run's outputs changed`;
  }
  return null;
}
