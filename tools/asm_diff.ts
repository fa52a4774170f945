// Differential run of the assembler against GNU as over every generated case.
// Usage: deno run -A tools/asm_diff.ts [mnemonic-filter]
import { assemble, Assembler } from "../asm/mod.ts";
import { allCases } from "../tests/asm/cases.ts";
import { assembleWithGas } from "../tests/asm/gas.ts";

const filter = Deno.args[0];
let cases = allCases();
if (filter) cases = cases.filter((c) => new RegExp(filter).test(c.mnemonic));
console.log("cases", cases.length);
const t0 = performance.now();
const gas = assembleWithGas(cases.map((c) => c.text));
console.log("gas ms", (performance.now() - t0).toFixed(0));
const hex = (b: Uint8Array | null) =>
  b ? Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ") : "REJECT";
let bad = 0;
const byKind = new Map<string, number>();
for (let i = 0; i < cases.length; i++) {
  const c = cases[i];
  let ours: Uint8Array | null = null, err = "";
  try {
    const a = new Assembler();
    a.emitOperands(c.mnemonic, c.ops);
    ours = a.finish().code;
  } catch (e) {
    err = (e as Error).message;
  }
  let parsed: Uint8Array | null = null;
  try {
    parsed = assemble(c.text);
  } catch {
    parsed = null;
  }
  const g = gas[i];
  const same = (x: Uint8Array | null, y: Uint8Array | null) =>
    (x === null && y === null) ||
    (x !== null && y !== null && x.length === y.length && x.every((v, j) => v === y[j]));
  if (!same(ours, g) || !same(parsed, g)) {
    bad++;
    const k = c.mnemonic;
    byKind.set(k, (byKind.get(k) ?? 0) + 1);
    if ((byKind.get(k) ?? 0) <= 3) {
      console.log(
        `${c.text}\n   gas:  ${hex(g)}\n   ours: ${hex(ours)} ${err}\n   text: ${hex(parsed)}`,
      );
    }
  }
}
console.log("mismatches", bad, "of", cases.length);
console.log(
  [...byKind.entries()].sort((a, b) => b[1] - a[1]).slice(0, 60).map(([k, v]) => `${k}:${v}`).join(
    " ",
  ),
);
// Cases both reject (expected: ah..bh with REX, equal AMX tile registers).
let bothReject = 0;
const rejSamples: string[] = [];
for (let i = 0; i < cases.length; i++) {
  if (gas[i] === null) {
    bothReject++;
    if (rejSamples.length < 15) rejSamples.push(cases[i].text);
  }
}
console.log("rejected by both:", bothReject, rejSamples);
