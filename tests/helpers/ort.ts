/**
 * onnxruntime-node as a dev-only oracle: loaded only when it is already in
 * Deno's npm cache (a fresh CI clone does not download its 288 MB), through
 * a computed specifier so `deno check` does not fetch it either.
 */
import { cpuFeatures } from "../../src/cpu.ts";
import { type OnnxGraph, type OnnxTensor, readModel } from "../../src/onnx/model.ts";

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

/**
 * Whether ORT's 8-bit GEMMs are exact on this machine. Without VNNI its MLAS
 * kernels multiply u8·s8 pairs with `vpmaddubsw`, which saturates each sum of
 * two products at int16 (why ORT's quantizer offers `reduce_range` for such
 * CPUs); with AVX-512 VNNI, AVX-VNNI or AMX its int32 sums are exact.
 */
export function ortInt8Exact(): boolean {
  const f = cpuFeatures();
  return f.avx512vnni || f.avxvnni || f.amxInt8;
}

/**
 * The largest |int8 weight| for a model whose outputs ORT must give
 * exactly: 7 bits (its quantizer's `reduce_range`) where its 8-bit GEMMs
 * saturate, so that no pair of u8·s8 products passes int16; else 127.
 */
export function ortExactWeightMax(): number {
  return ortInt8Exact() ? 127 : 63;
}

/** ORT's ops with 8-bit GEMMs inside, and their weight inputs. */
const INT8_GEMM_WEIGHTS: Record<string, number[]> = {
  MatMulInteger: [1],
  ConvInteger: [1],
  QLinearConv: [3],
  QLinearMatMul: [3],
  MatMulIntegerToFloat: [1],
  DynamicQuantizeMatMul: [1],
  QGemm: [3],
  QAttention: [1],
  DynamicQuantizeLSTM: [1, 2],
};

/**
 * Whether ORT's 8-bit GEMMs may saturate in this model where they can (see
 * `ortInt8Exact`): one of its integer ops, or (at level "all", where it
 * fuses QDQ groups into them) a DequantizeLinear of a constant, whose
 * weights are not all int8 within ±64 — 7-bit weights (its quantizer's
 * `reduce_range`) keep every pair of u8·s8 products inside int16.
 */
export function ortMaySaturate(bytes: Uint8Array, ortLevel: string): boolean {
  const model = readModel(bytes);
  const inits = new Map<string, OnnxTensor>();
  const narrow = (name: string) => {
    const t = inits.get(name);
    if (!t || t.dataType !== 3) return false; // int8 only
    const values = t.raw ? new Int8Array(t.raw.buffer, t.raw.byteOffset, t.raw.length) : t.int32s;
    for (const v of values) if (v < -64 || v > 64) return false;
    return true;
  };
  const walk = (g: OnnxGraph): boolean => {
    for (const t of g.initializers) inits.set(t.name, t);
    return g.nodes.some((n) => {
      const weights = INT8_GEMM_WEIGHTS[n.opType] ??
        (ortLevel === "all" && n.opType === "DequantizeLinear" && inits.has(n.inputs[0])
          ? [0]
          : []);
      return weights.some((i) => !narrow(n.inputs[i])) ||
        n.attributes.some((a) => (a.g !== null && walk(a.g)) || a.graphs.some(walk));
    });
  };
  return walk(model.graph);
}
