/**
 * onnxruntime-node as a dev-only oracle: loaded only when it is already in
 * Deno's npm cache (a fresh CI clone does not download its 288 MB), through
 * a computed specifier so `deno check` does not fetch it either.
 */
// deno-lint-ignore no-explicit-any
export type Ort = any;

let cached: Promise<Ort | null> | null = null;

function denoDir(): string {
  const env = Deno.env.get("DENO_DIR");
  if (env) return env;
  const xdg = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`;
  return `${xdg}/deno`;
}

/** The ORT module, or null when it is not installed (or NJIT_NO_ORT is set). */
export function loadOrt(): Promise<Ort | null> {
  cached ??= (async () => {
    if (Deno.env.get("NJIT_NO_ORT")) return null;
    try {
      Deno.statSync(`${denoDir()}/npm/registry.npmjs.org/onnxruntime-node/1.30.0`);
    } catch {
      return null;
    }
    if (!Deno.env.get("ONNXRUNTIME_NODE_INSTALL")) Deno.env.set("ONNXRUNTIME_NODE_INSTALL", "skip");
    try {
      const spec = ["npm:onnxruntime-node", "1.30.0"].join("@");
      return await import(spec);
    } catch {
      return null;
    }
  })();
  return cached;
}
