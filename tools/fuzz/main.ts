/**
 * Fuzz campaigns: seeded random cases of a family against its reference
 * (see each module), each failure printed with the seed that rebuilds it.
 * Not part of `deno task test` (minutes per thousand cases); run it after
 * changing a kernel or a fusion.
 *
 *   deno run -A tools/fuzz/main.ts conv [--from 1] [--count 500] [--isa avx2]
 *   deno run -A tools/fuzz/main.ts all --count 300     # boundary, conv, gemm, gemmtuned, pool, qconv, rows, streamed, feeds, concurrent, graph, ops, dynamic, qdq
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A tools/fuzz/main.ts graph   # needs onnxruntime-node
 *   deno run -A tools/fuzz/main.ts files --dir /tmp/onnxdata/node   # damaged node-test models
 *
 * Exits 1 when any case failed.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { IsaLevel } from "../../mod.ts";
import { loadOrt } from "../../tests/helpers/ort.ts";
import { boundaryCase } from "./boundary.ts";
import { concurrentCase } from "./concurrent.ts";
import { feedsCase } from "./feeds.ts";
import { filesCase } from "./files.ts";
import { convCase } from "./conv.ts";
import { gemmCase, tunedGemmCase } from "./gemm.ts";
import { dynamicCase, graphCase, opCase } from "./graph.ts";
import { poolCase } from "./pool.ts";
import { qconvCase } from "./qconv.ts";
import { qdqCase } from "./qdq_graph.ts";
import { rowsCase } from "./rows.ts";
import { streamedCase } from "./streamed.ts";
import { type CaseResult, type FuzzOptions, JitSet } from "./shared.ts";

const CAMPAIGNS: Record<string, (seed: number, jits: JitSet, o: FuzzOptions) => CaseResult> = {
  boundary: boundaryCase,
  conv: convCase,
  gemm: gemmCase,
  gemmtuned: tunedGemmCase,
  pool: poolCase,
  qconv: qconvCase,
  rows: rowsCase,
  streamed: streamedCase,
};

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    from: { type: "string", default: "1" },
    count: { type: "string", default: "500" },
    isa: { type: "string" },
    dir: { type: "string" },
  },
});
const which = positionals[0] ?? "all";
const names = which === "all"
  ? [...Object.keys(CAMPAIGNS), "feeds", "concurrent", "graph", "ops", "dynamic", "qdq"]
  : which.split(",");
const from = Number(values.from), count = Number(values.count);
const options: FuzzOptions = { isa: values.isa as IsaLevel | undefined };
let failed = 0;
for (const name of names) {
  const t0 = performance.now();
  let fails = 0;
  if (name === "files") {
    // Damaged model files from a directory of backend test models (files.ts): not in "all".
    if (!values.dir) {
      console.error(
        "files: --dir names a directory of <case>/model.onnx (tools/onnx_node_data.py)",
      );
      Deno.exit(2);
    }
    for (let seed = from; seed < from + count; seed++) {
      const result = await filesCase(seed, values.dir);
      if (result !== null) {
        console.log(`FAIL ${result}`);
        fails++;
      }
    }
  } else if (name === "concurrent" || name === "feeds") {
    const each = name === "concurrent" ? concurrentCase : feedsCase;
    for (let seed = from; seed < from + count; seed++) {
      const result = await each(seed);
      if (result !== null) {
        console.log(`FAIL ${result}`);
        fails++;
      }
    }
  } else if (name === "graph" || name === "qdq" || name === "ops" || name === "dynamic") {
    const ort = await loadOrt();
    if (ort === null) {
      console.log(
        `${name}: onnxruntime-node is not installed (deno task compare-models fetches it)`,
      );
      continue;
    }
    const model = name === "graph"
      ? graphCase
      : name === "ops"
      ? opCase
      : name === "dynamic"
      ? dynamicCase
      : qdqCase;
    for (let seed = from; seed < from + count; seed++) {
      const result = await model(seed, ort);
      if (result !== null) {
        console.log(`FAIL ${result}`);
        fails++;
      }
    }
  } else {
    const campaign = CAMPAIGNS[name];
    if (campaign === undefined) {
      console.error(
        `no campaign ${name}: ${
          [...Object.keys(CAMPAIGNS), "feeds", "concurrent", "graph", "ops", "dynamic", "qdq"].join(
            ", ",
          )
        }`,
      );
      Deno.exit(2);
    }
    const jits = new JitSet(options.isa);
    for (let seed = from; seed < from + count; seed++) {
      const result = campaign(seed, jits, options);
      if (result !== null) {
        console.log(`FAIL ${result}`);
        fails++;
      }
    }
    for (const f of jits.failures()) {
      console.log(`FAIL plan: ${f}`);
      fails++;
    }
    jits.close();
  }
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(`${name}: seeds ${from}..${from + count - 1}, ${fails} failed (${s} s)`);
  failed += fails;
}
Deno.exit(failed > 0 ? 1 : 0);
