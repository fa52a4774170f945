/**
 * Reading a Jit's dumped kernels (`dump` option, NJIT_DUMP) in tests.
 *
 * @module
 */

/** The names of the `.lst` listings in `dir` whose text contains `text`. */
export function listingsWith(dir: string, text: string): string[] {
  return [...Deno.readDirSync(dir)]
    .filter((e) =>
      e.name.endsWith(".lst") && Deno.readTextFileSync(`${dir}/${e.name}`).includes(text)
    )
    .map((e) => e.name);
}
