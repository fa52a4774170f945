/**
 * What first touching fresh memory costs here, as a model's create meets
 * it: each sample a fresh Deno process started `--pause` seconds after the
 * last one ended (the guest's free memory settles in between), writing
 * `--mb` MiB once. Three ways, alternating:
 * - `v8`: a new Float32Array, a store per 4 KiB page (faulted one by one);
 * - `ours`: `native/large_memory.ts` (its own mapping, pages populated as
 *   it is handed out), then written the same way;
 * - `huge`: an `mmap` advised to transparent huge pages (`MADV_HUGEPAGE`,
 *   what large_memory.ts did until 2026-12-03), written the same way.
 *
 * Medians in ms, all samples beside.
 *
 *   deno run -A bench/page_faults.ts [--mb 32] [--rounds 3] [--pause 3]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { LargeMemory } from "../src/native/large_memory.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    mb: { type: "string", default: "32" },
    rounds: { type: "string", default: "3" },
    pause: { type: "string", default: "3" },
    child: { type: "string" },
  },
});
const n = Number(values.mb) * (1 << 18);
const touch = (a: Float32Array) => {
  for (let j = 0; j < a.length; j += 1024) a[j] = 1;
};

/** A fresh mapping advised to huge pages, 2 MiB-aligned (the bench's own libc: not the library's). */
function hugeFloats(length: number): Float32Array {
  const c = Deno.dlopen("libc.so.6", {
    mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
    madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
  }).symbols;
  const huge = 2 << 20, bytes = length * 4;
  // PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS|NORESERVE; MADV_HUGEPAGE = 14.
  const base = c.mmap(null, BigInt(bytes + huge), 3, 0x4022, -1, 0n)!;
  const at = (BigInt(Deno.UnsafePointer.value(base)) + BigInt(huge - 1)) & ~BigInt(huge - 1);
  const p = Deno.UnsafePointer.create(at)!;
  c.madvise(p, BigInt(bytes), 14);
  return new Float32Array(Deno.UnsafePointerView.getArrayBuffer(p, bytes));
}

if (values.child) {
  const t = performance.now();
  const a = values.child === "v8"
    ? new Float32Array(n)
    : values.child === "ours"
    ? new LargeMemory().floats(n)
    : hugeFloats(n);
  touch(a);
  console.log(JSON.stringify({ ms: performance.now() - t }));
  Deno.exit(0);
}

const self = new URL(import.meta.url).pathname;
const modes = ["v8", "ours", "huge"];
const times: Record<string, number[]> = { v8: [], ours: [], huge: [] };
for (let r = 0; r < Number(values.rounds); r++) {
  for (const mode of modes) {
    await new Promise((done) => setTimeout(done, Number(values.pause) * 1000));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", self, "--child", mode, "--mb", values.mb],
      stdout: "piped",
    }).output();
    times[mode].push(JSON.parse(new TextDecoder().decode(out.stdout)).ms);
  }
}
const med = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1];
for (const mode of modes) {
  console.log(
    `${values.mb} MiB written once, fresh process, ${values.pause} s after the last: ${
      mode.padEnd(4)
    } ${med(times[mode]).toFixed(1).padStart(7)} ms  (${
      times[mode].map((t) => t.toFixed(1)).join(", ")
    })`,
  );
}
