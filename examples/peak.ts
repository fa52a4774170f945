/**
 * This machine's limits, measured with probes emitted by our own assembler:
 * f32 FMA throughput per vector width and streaming read bandwidth.
 *
 *   deno task peak [--json]
 */
import { parseArgs } from "node:util";
import { cpuFeatures, measurePeak } from "../mod.ts";

const { values } = parseArgs({ options: { json: { type: "boolean", default: false } } });
const f = cpuFeatures();
const p = measurePeak(50);
if (values.json) console.log(JSON.stringify({ cpu: f.brand, isa: f.isa, ...p }, null, 2));
else {
  console.log(`${f.brand} (${f.vendor} family ${f.family} model ${f.model}), ISA level ${f.isa}`);
  console.log(`caches: L1d ${f.l1d >> 10} KiB, L2 ${f.l2 >> 10} KiB, L3 ${f.l3 >> 20} MiB`);
  const row = (name: string, v: number | null) =>
    console.log(
      `  FMA ${name}: ${
        v === null
          ? "n/a"
          : `${v.toFixed(1)} GFLOPS (${
            (v / (name === "xmm" ? 8 : name === "ymm" ? 16 : 32)).toFixed(2)
          } G FMA-instructions/s)`
      }`,
    );
  console.log("f32 FMA peak, one thread:");
  row("xmm", p.fma.xmm);
  row("ymm", p.fma.ymm);
  row("zmm", p.fma.zmm);
  console.log(`streaming read, 64 MiB: ${p.readGBs.toFixed(1)} GB/s`);
}
