/**
 * Golden byte vectors: every generated case with the bytes GNU as made of
 * it ("-" where as rejects it), gzip-compressed, so the assembler tests run
 * from data where as is absent.
 *
 * Regenerate (needs GNU as): `deno run -A tests/asm/golden.ts`
 *
 * @module
 */
import { allCases } from "./cases.ts";
import { assembleWithGas } from "./gas.ts";

/** Path of the committed golden file. */
export const GOLDEN_PATH: URL = new URL("../golden/asm_cases.txt.gz", import.meta.url);

/** One golden case: GNU as's bytes (null = rejected) and the text. */
export interface GoldenCase {
  bytes: Uint8Array | null;
  text: string;
}

function hexOf(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Reads the golden file. */
export async function readGolden(): Promise<GoldenCase[]> {
  const gz = await Deno.readFile(GOLDEN_PATH);
  const stream = new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip"));
  const text = await new Response(stream).text();
  const out: GoldenCase[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const tab = line.indexOf("\t");
    const hex = line.slice(0, tab);
    const bytes = hex === "-"
      ? null
      : new Uint8Array(hex.match(/../g)!.map((h) => parseInt(h, 16)));
    out.push({ bytes, text: line.slice(tab + 1) });
  }
  return out;
}

/** Writes the golden file from GNU as's output on every generated case. */
export async function writeGolden(): Promise<number> {
  const cases = allCases();
  const gas = assembleWithGas(cases.map((c) => c.text));
  const lines = cases.map((c, i) => `${gas[i] ? hexOf(gas[i]!) : "-"}\t${c.text}`);
  const data = new TextEncoder().encode(lines.join("\n") + "\n");
  const stream = new Blob([data]).stream().pipeThrough(new CompressionStream("gzip"));
  await Deno.writeFile(GOLDEN_PATH, new Uint8Array(await new Response(stream).arrayBuffer()));
  return cases.length;
}

if (import.meta.main) {
  const n = await writeGolden();
  console.log(`wrote ${n} golden cases to ${GOLDEN_PATH.pathname}`);
}
