/**
 * A packed B's layouts against each other (`packB` "rows", "panels" and
 * "columns", the last for B narrower than a vector): the same products on the same weights, 1 and 2 threads, in
 * alternating rounds within one process; medians per configuration. For a
 * few rows of A the product is bound by reading B once: those rows also
 * show GB/s and the share of the read bound (a streaming read of a buffer
 * of B's size, measured in the same run).
 *
 *   deno run -A bench/gemv_layouts.ts [--shapes 1x1024x1024,...] [--rounds 15] [--cold]
 *
 * --cold: 64 MB written before each call, so B comes from memory as a
 * model's weights do (every layer's weights pass through the caches
 * between two uses of one); the read bound is then a read of 64 MB.
 *
 * Shapes are m×n×k (n: columns of C); B is given as Bᵀ (a Linear layer's weights).
 * The ratios are rows' time over each layout's.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Jit } from "../mod.ts";
import { measureRead } from "../src/peak.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    shapes: {
      type: "string",
      default:
        "1x1024x1024,1x1024x784,4x1024x1024,64x1024x1024,128x3072x768,128x768x3072,64x10x1024,4096x2x512",
    },
    rounds: { type: "string", default: "15" },
    cold: { type: "boolean", default: false },
  },
});
const rounds = Number(values.rounds);
const cold = values.cold;
/** Written before each cold call: past the last-level cache. */
const junk = cold ? new Float32Array(16 << 20) : null;
const layouts = ["rows", "panels", "columns"] as const;
const jits = new Map([1, 2].map((t) => [t, new Jit({ threads: t, tuneBudget: 0 })]));

for (const shape of values.shapes.split(",")) {
  const [m, n, k] = shape.split("x").map(Number);
  const a = new Float32Array(m * k).map(() => Math.random() - 0.5);
  const b = new Float32Array(n * k).map(() => Math.random() - 0.5);
  const c = new Float32Array(m * n);
  const configs = [...jits].flatMap(([threads, jit]) =>
    layouts.map((layout) => {
      const packed = jit.packB(b, { k, n, transB: true, layout });
      const run = () => jit.gemm(a, packed, c, { m, n, k });
      return { threads, layout, jit, run, us: [] as number[] };
    })
  );
  // Calls per timing: about 2 ms of work at 100 GFLOPS, at least 5 (cold: one call, after
  // the junk is written).
  const calls = Math.max(5, Math.round(2e-3 / (2 * m * n * k / 100e9)));
  for (const cfg of configs) for (let i = 0; i < calls * 3; i++) cfg.run();
  for (let r = 0; r < rounds; r++) {
    for (const cfg of configs) {
      if (junk) {
        junk.fill(r);
        const t0 = performance.now();
        cfg.run();
        cfg.us.push((performance.now() - t0) * 1000);
        continue;
      }
      for (let i = 0; i < calls; i++) cfg.run();
      const t0 = performance.now();
      for (let i = 0; i < calls; i++) cfg.run();
      cfg.us.push(((performance.now() - t0) / calls) * 1000);
    }
  }
  const median = (x: number[]) => x.sort((p, q) => p - q)[x.length >> 1];
  const bytes = 4 * n * k;
  for (const threads of jits.keys()) {
    const [rows, panels, columns] = layouts.map((l) =>
      configs.find((c) => c.threads === threads && c.layout === l)!
    );
    const [ur, up, uc] = [median(rows.us), median(panels.us), median(columns.us)];
    let bound = "";
    if (m <= 4) {
      const read = measureRead(cold ? 64 << 20 : Math.ceil(bytes / 4096) * 4096, 10, threads);
      const gbs = (us: number) => bytes / us / 1e3;
      bound = `  GB/s rows ${gbs(ur).toFixed(0)}, panels ${gbs(up).toFixed(0)}, columns ${
        gbs(uc).toFixed(0)
      } (${(100 * gbs(up) / read).toFixed(0)}%, ${(100 * gbs(uc) / read).toFixed(0)}% of a ${
        read.toFixed(0)
      } GB/s read)`;
    }
    // Keys: panels carry "bpanels", columns are Bᵀ ("NT"), rows neither.
    const kind = (key: string) =>
      key.includes("bpanels") ? "panels" : key.includes(" NT ") ? "columns" : "rows";
    const plan = (cfg: typeof rows) =>
      cfg.jit.stats().keys.find((s) =>
        s.key.startsWith(`gemm ${m}x${n}x${k} `) && kind(s.key) === cfg.layout
      )?.plan ?? "?";
    console.log(
      `${shape.padEnd(13)} ${threads}T  rows ${ur.toFixed(1).padStart(8)} µs  panels ${
        up.toFixed(1).padStart(8)
      } µs  ×${(ur / up).toFixed(2)}  columns ${uc.toFixed(1).padStart(8)} µs  ×${
        (ur / uc).toFixed(2)
      }${bound}`,
    );
    console.log(
      `${"".padEnd(17)}rows: ${plan(rows)}; panels: ${plan(panels)}; columns: ${plan(columns)}`,
    );
  }
}
for (const jit of jits.values()) jit.close();
