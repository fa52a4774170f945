/**
 * Runs a script of tests/fixtures in a fresh Deno process (with the given
 * flags, e.g. V8 flags or no permissions at all) and parses the one JSON line
 * it prints. Fails with the child's stderr when it does not exit cleanly
 * or within `timeoutMs`.
 */
export async function runFixture(
  name: string,
  flags: string[],
  env: Record<string, string> = {},
  timeoutMs = 120_000,
): Promise<Record<string, unknown>> {
  // A child that hangs is killed at the timeout: the test fails instead of hanging.
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, new URL(`../fixtures/${name}`, import.meta.url).pathname],
    env,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`fixture ${name} failed (code ${out.code}):\n${stderr}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** The lines of /proc/self/maps. */
export function mappings(): string[] {
  return Deno.readTextFileSync("/proc/self/maps").split("\n").filter((l) => l !== "");
}

/** Permissions ("r-xp", "---p", ...) of the mapping holding `address`, or "unmapped". */
export function permsAt(address: number): string {
  for (const line of mappings()) {
    const [range, perms] = line.split(" ");
    const [lo, hi] = range.split("-").map((h) => parseInt(h, 16));
    if (address >= lo && address < hi) return perms;
  }
  return "unmapped";
}

/** Whether `tool --version` runs here (GNU binutils are optional on a test machine). */
export function toolAvailable(tool: string): boolean {
  try {
    return new Deno.Command(tool, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync()
      .success;
  } catch {
    return false;
  }
}
