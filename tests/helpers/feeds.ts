/**
 * A zoo model's feeds as ORT-API tensors.
 *
 * @module
 */
import { Tensor } from "../../mod.ts";
import type { ZooModel } from "../../tools/model_zoo.ts";

/** The model's feeds as Tensors (over its arrays, not copies). */
export function feedsOf(m: ZooModel): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(m.feeds)) out[k] = new Tensor(v.type, v.data, v.dims);
  return out;
}
