/**
 * GNU as as an oracle: assembles many Intel-syntax lines at once and returns
 * each line's bytes, or null where as rejects the line.
 *
 * @module
 */
import { toolAvailable } from "../helpers/fixture.ts";

/** Whether GNU as, nm and objcopy can be run here. */
export function gasAvailable(): boolean {
  return ["as", "nm", "objcopy"].every(toolAvailable);
}

function run(cmd: string, args: string[]): { ok: boolean; stdout: string; stderr: string } {
  const r = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  const dec = new TextDecoder();
  return { ok: r.success, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

/** Bytes GNU as makes of each line (`as --64`, `.intel_syntax noprefix`); null if it rejects it. */
export function assembleWithGas(lines: readonly string[]): (Uint8Array | null)[] {
  const dir = Deno.makeTempDirSync({ prefix: "njit-gas-" });
  try {
    const rejected = new Set<number>();
    const src = `${dir}/cases.s`, obj = `${dir}/cases.o`, bin = `${dir}/cases.bin`;
    for (let attempt = 0; attempt < 3; attempt++) {
      const text = [".intel_syntax noprefix", ".text"];
      lines.forEach((line, i) => {
        if (!rejected.has(i)) text.push(`c${i}: ${line}`);
        else text.push(`c${i}:`);
      });
      Deno.writeTextFileSync(src, text.join("\n") + "\n");
      const r = run("as", ["--64", "-o", obj, src]);
      if (r.ok) break;
      let found = 0;
      for (const m of r.stderr.matchAll(/cases\.s:(\d+): Error/g)) {
        rejected.add(Number(m[1]) - 3);
        found++;
      }
      if (found === 0) throw new Error(`as failed: ${r.stderr.slice(0, 2000)}`);
    }
    const nm = run("nm", ["-n", obj]);
    if (!nm.ok) throw new Error(`nm failed: ${nm.stderr}`);
    const offsets = new Array<number>(lines.length).fill(-1);
    for (const line of nm.stdout.split("\n")) {
      const m = /^([0-9a-f]+)\s+\w\s+c(\d+)$/.exec(line.trim());
      if (m) offsets[Number(m[2])] = parseInt(m[1], 16);
    }
    const oc = run("objcopy", ["-O", "binary", "--only-section=.text", obj, bin]);
    if (!oc.ok) throw new Error(`objcopy failed: ${oc.stderr}`);
    const bytes = Deno.readFileSync(bin);
    return lines.map((_, i) => {
      if (rejected.has(i)) return null;
      const end = i + 1 < lines.length ? offsets[i + 1] : bytes.length;
      return bytes.slice(offsets[i], end);
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}
