/**
 * Sessions at once: two or three random models (dynamic_graph.ts), each
 * session's runs started together (`run` without awaiting, on several
 * inputs and shapes, sessions of 1 and 2 threads sharing the native pool),
 * every result the bits its own session gives the same input run alone
 * with `runSync`.
 *
 * @module
 */
import { InferenceSession, Tensor } from "../../mod.ts";
import { buildDynamicGraph } from "./dynamic_graph.ts";
import { type CaseResult, int, pick, rng } from "./shared.ts";

/** One seeded set of sessions run at once. */
export async function concurrentCase(seed: number): Promise<CaseResult> {
  const r = rng(seed);
  const models = Array.from({ length: int(r, 2, 3) }, () => buildDynamicGraph(r));
  const threads = models.map(() => pick(r, [1, 2]));
  const make = () =>
    Promise.all(
      models.map((m, k) => InferenceSession.create(m.bytes, { intraOpNumThreads: threads[k] })),
    );
  // Sessions for the runs alone, and fresh ones for the runs at once: a plan not measured yet
  // runs off the event loop (then, once measured short, on it).
  const sessions = await make(), fresh = await make();
  try {
    // Each session's inputs (its model's shapes, two values of the first) and their outputs
    // run alone, synchronously.
    const jobs = models.flatMap((m, k) =>
      [0, 0, 1, 2].map((i) => ({
        k,
        dims: m.shapes[i],
        x: Float32Array.from({ length: m.shapes[i].reduce((p, q) => p * q, 1) }, () => r() * 2 - 1),
      }))
    );
    const alone = jobs.map((j) => {
      const out = sessions[j.k].runSync({ x: new Tensor("float32", j.x, j.dims) });
      const d = Object.values(out)[0].data as Float32Array;
      return new Uint32Array(d.buffer, d.byteOffset, d.length).slice();
    });
    // All of them at once, in a random order, twice over.
    const order = [...jobs.keys(), ...jobs.keys()].sort(() => r() - 0.5);
    const results = await Promise.all(
      order.map((i) =>
        sessions[jobs[i].k].run({ x: new Tensor("float32", jobs[i].x, jobs[i].dims) })
      ),
    );
    for (const [n, i] of order.entries()) {
      const d = Object.values(results[n])[0].data as Float32Array;
      const u = new Uint32Array(d.buffer, d.byteOffset, d.length);
      const at = u.findIndex((v, e) => v !== alone[i][e]);
      if (u.length !== alone[i].length || at >= 0) {
        return `concurrent seed ${seed}: session ${jobs[i].k} input ${i} (${
          jobs[i].dims.join("×")
        }), ` +
          `started ${n}th: element ${at} not its bits alone`;
      }
    }
    return null;
  } catch (e) {
    return `concurrent seed ${seed}: threw ${e}`;
  } finally {
    for (const s of [...sessions, ...fresh]) await s.release();
  }
}
