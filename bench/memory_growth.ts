/**
 * What memory only the collector gives back piles up to: the process's RSS
 * while sessions of the ResNet-style CNN are created and dropped without
 * `release` (their weights and arenas on huge-page mappings V8 does not
 * count: native/large_memory.ts caps them), and while a Jit of its own
 * packs 4.5 MB of GEMM weights in a loop and drops the handles.
 *
 *   deno run -A bench/memory_growth.ts [--sessions 300] [--packs 3000]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { InferenceSession, Jit } from "../mod.ts";
import { ZOO } from "../tools/model_zoo.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    sessions: { type: "string", default: "300" },
    packs: { type: "string", default: "3000" },
  },
});
const rssMb = () =>
  Number(Deno.readTextFileSync("/proc/self/status").match(/VmRSS:\s*(\d+)/)![1]) / 1024;
const turn = () => new Promise((r) => setTimeout(r, 0));

{
  using jit = new Jit({ threads: 1 });
  const w = new Float32Array(1100 * 1024).fill(1);
  let most = 0;
  const packs = Number(values.packs);
  for (let i = 1; i <= packs; i++) {
    jit.packB(w, { k: 1100, n: 1024 });
    if (i % 250 === 0) {
      most = Math.max(most, rssMb());
      await turn();
    }
  }
  console.log(`${packs} packB of 4.5 MB, handles dropped: RSS at most ${most.toFixed(0)} MB`);
}

const bytes = ZOO.cnn().bytes;
let most = 0;
const sessions = Number(values.sessions);
for (let i = 1; i <= sessions; i++) {
  await InferenceSession.create(bytes, { intraOpNumThreads: 1, tuneBudget: 0 }); // never released
  if (i % 25 === 0) {
    most = Math.max(most, rssMb());
    await turn();
  }
}
console.log(`${sessions} CNN sessions created and dropped: RSS at most ${most.toFixed(0)} MB`);
