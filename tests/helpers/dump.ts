/**
 * Reading a Jit's dumped kernels (`dump` option, NJIT_DUMP) in tests.
 *
 * @module
 */
import assert from "node:assert/strict";

/** The names of the `.lst` listings in `dir` whose text contains `text`. */
export function listingsWith(dir: string, text: string): string[] {
  return [...Deno.readDirSync(dir)]
    .filter((e) =>
      e.name.endsWith(".lst") && Deno.readTextFileSync(`${dir}/${e.name}`).includes(text)
    )
    .map((e) => e.name);
}

/**
 * Asserts that at least `least` of the split Jit's dumped kernels (in
 * `split`), all of them parts, store by `vmovntps` and fence, and that none
 * of the one-thread Jit's (in `one`) does.
 */
export function assertPartsStream(split: string, one: string, least: number): void {
  const streamed = listingsWith(split, "vmovntps");
  assert.ok(
    streamed.length >= least && streamed.every((f) => f.includes("part")),
    streamed.join(" "),
  );
  assert.equal(listingsWith(split, "sfence").length, streamed.length);
  assert.deepEqual(listingsWith(one, "vmovntps"), []);
}
