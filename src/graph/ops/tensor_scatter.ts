/**
 * TensorScatter (opset 24): a static KV cache updated in place of a copy —
 * the update's rows written into the cache along `axis` (default −2) from
 * each batch item's write index (absent: 0), wrapping in circular mode.
 * Any element type (bytes copied).
 */
import type { TensorData } from "../../onnx/dtype.ts";
import { axisOf, fail, meta, need, type OpDef, stridesOf } from "./op.ts";

const TENSOR_SCATTER: OpDef = {
  attributes: ["axis", "mode"],
  infer(n, ins) {
    const [cache, update, idx] = need(n, ins, 2, 3);
    const r = cache.dims.length, axis = axisOf(n, n.attrs.int("axis", -2), r, "axis");
    if (axis === 0) fail(n, "axis must not be the batch axis");
    if (update.type !== cache.type || update.dims.length !== r) {
      fail(n, "update must match the cache's type and rank");
    }
    for (let i = 0; i < r; i++) {
      if (i === axis ? update.dims[i] > cache.dims[i] : update.dims[i] !== cache.dims[i]) {
        fail(
          n,
          `update [${update.dims.join(", ")}] does not fit the cache [${cache.dims.join(", ")}]`,
        );
      }
    }
    if (idx && (idx.type !== "int64" || idx.dims.join() !== [cache.dims[0]].join())) {
      fail(n, `write_indices must be int64 [${cache.dims[0]}]`);
    }
    const mode = n.attrs.string("mode", "linear");
    if (mode !== "linear" && mode !== "circular") {
      fail(n, `mode '${mode}' is not linear or circular`);
    }
    return [meta(cache.type, cache.dims)];
  },
  build(n, ins, outs) {
    const cache = ins[0]!, update = ins[1]!, idx = ins[2] ?? null, y = outs[0];
    const r = cache.dims.length, axis = axisOf(n, n.attrs.int("axis", -2), r, "axis");
    const circular = n.attrs.string("mode", "linear") === "circular";
    const max = cache.dims[axis], seq = update.dims[axis];
    const inner = stridesOf(cache.dims)[axis]; // elements of one row along the axis
    const outer = cache.dims.slice(0, axis).reduce((a, b) => a * b, 1);
    const perBatch = outer / cache.dims[0];
    const cd = cache.data as TensorData, ud = update.data as TensorData, yd = y.data as TensorData;
    const wi = idx?.data as BigInt64Array | undefined;
    return {
      native: false,
      run: () => {
        (yd as Float32Array).set(cd as Float32Array);
        for (let o = 0; o < outer; o++) {
          const b = Math.floor(o / perBatch), start = wi ? Number(wi[b]) : 0;
          for (let s = 0; s < seq; s++) {
            let at = start + s;
            if (circular) at = ((at % max) + max) % max;
            if (at < 0 || at >= max) {
              throw new RangeError(
                `${n.op} node '${n.name}': write index ${at} is outside 0..${max - 1}`,
              );
            }
            const from = (o * seq + s) * inner, to = (o * max + at) * inner;
            (yd as Float32Array).set((ud as Float32Array).subarray(from, from + inner), to);
          }
        }
      },
    };
  },
};

/** The TensorScatter definition. */
export const TENSOR_SCATTER_OPS: Record<string, OpDef> = { TensorScatter: TENSOR_SCATTER };
