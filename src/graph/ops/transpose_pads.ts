/**
 * ConvTranspose's output_shape attribute as the pads it implies.
 *
 * @module
 */
import type { Node } from "../ir.ts";
import { fail } from "./op.ts";

/**
 * ConvTranspose's pads [begins..., ends...] from its output_shape attribute
 * (ONNX: pads are then ignored; the total padding is the full output less
 * the requested one, split as auto_pad says: SAME_UPPER puts the odd one at
 * the end, otherwise at the start), or null without it; and the output
 * padding. A requested output larger than the full one (a negative total)
 * grows it at the end, as output_padding does — rows only the bias reaches,
 * as onnxruntime computes them; growth at the start is refused.
 */
export function outputShapePads(
  n: Node,
  sizes: readonly number[],
  kernel: readonly number[],
  strides: readonly number[],
  dilations: readonly number[],
  extra: readonly number[],
): { pads: number[]; extra: number[] } | null {
  const shape = n.attrs.ints("output_shape");
  if (!shape) return null;
  const r = sizes.length;
  // The spatial dims (some exporters write N and C too).
  const want = shape.length === r + 2 ? shape.slice(2) : shape;
  if (want.length !== r) {
    fail(n, `output_shape [${shape.join(", ")}] does not have ${r} spatial dims`);
  }
  const upper = n.attrs.string("auto_pad", "NOTSET") === "SAME_UPPER";
  const begin: number[] = [], end: number[] = [], grown = extra.slice();
  for (let i = 0; i < r; i++) {
    const full = strides[i] * (sizes[i] - 1) + extra[i] + (kernel[i] - 1) * dilations[i] + 1;
    const total = full - want[i];
    const half = Math.floor(total / 2);
    begin.push(upper ? half : total - half);
    end.push(upper ? total - half : half);
    if (begin[i] < 0) {
      fail(n, `output_shape ${want[i]} grows the full output ${full} at the start (not supported)`);
    }
    if (end[i] < 0) {
      grown[i] -= end[i];
      end[i] = 0;
    }
  }
  return { pads: [...begin, ...end], extra: grown };
}
