/**
 * Ops that put window-shaped data back into an image, TypeScript steps:
 *
 * - MaxUnpool (opsets 9, 11): zeros, then each X value at its index into the
 *   whole output (as MaxPool's Indices give it, N and C included); the output
 *   [N, C, (in − 1)·s − pad begin − pad end + k …] or output_shape. An index
 *   outside the output throws a RangeError naming the node before anything
 *   is written.
 * - Col2Im (opset 18): the sum of every block column at its place in the
 *   image (the inverse of im2col), any spatial rank, with pads, strides and
 *   dilations.
 */
import {
  checkedSize,
  expectType,
  fail,
  knownInts,
  type Meta,
  meta,
  need,
  type OpDef,
  sizeOf,
  stridesOf,
} from "./op.ts";
import type { Node } from "../ir.ts";

/** Per-dim kernel, strides and pads (begin, end) of a node with r spatial dims. */
function windowAttrs(n: Node, r: number, kernel: number[]) {
  const strides = n.attrs.ints("strides") ?? new Array(r).fill(1);
  const dilations = n.attrs.ints("dilations") ?? new Array(r).fill(1);
  const pads = n.attrs.ints("pads") ?? new Array(2 * r).fill(0);
  if (kernel.length !== r || strides.length !== r || dilations.length !== r) {
    fail(n, `the window does not have ${r} spatial dims`);
  }
  if (pads.length !== 2 * r) fail(n, `pads must have ${2 * r} values`);
  if ([...kernel, ...strides, ...dilations].some((v) => !(v >= 1)) || pads.some((p) => p < 0)) {
    fail(n, "kernel, strides and dilations must be ≥ 1, pads ≥ 0");
  }
  return { strides, dilations, begin: pads.slice(0, r), end: pads.slice(r) };
}

const MAX_UNPOOL: OpDef = {
  attributes: ["kernel_shape", "pads", "strides"],
  infer(n, ins) {
    const [x, idx] = need(n, ins, 2, 3);
    expectType(n, x, 0, "float32");
    expectType(n, idx, 1, "int64");
    if (x.dims.length < 3) fail(n, "X must have rank ≥ 3");
    if (idx.dims.join() !== x.dims.join()) fail(n, "I must have X's shape");
    const r = x.dims.length - 2;
    const kernel = n.attrs.ints("kernel_shape") ?? fail(n, "kernel_shape is required");
    const w = windowAttrs(n, r, kernel);
    let dims = [
      x.dims[0],
      x.dims[1],
      ...x.dims.slice(2).map((d, i) => (d - 1) * w.strides[i] - w.begin[i] - w.end[i] + kernel[i]),
    ];
    if (ins[2]) {
      const want = knownInts(n, ins[2], "output_shape");
      if (want.length !== dims.length || want[0] !== dims[0] || want[1] !== dims[1]) {
        fail(n, `output_shape [${want}] does not fit X [${x.dims}]`);
      }
      dims = want;
    }
    if (dims.some((d) => !(d >= 0))) fail(n, `the output [${dims}] has a negative dim`);
    checkedSize(n, dims);
    return [meta("float32", dims)];
  },
  build(n, ins, outs) {
    const x = ins[0]!.data as Float32Array, idx = ins[1]!.data as BigInt64Array;
    const y = outs[0].data as Float32Array, total = BigInt(y.length);
    return {
      native: false,
      run: () => {
        for (let i = 0; i < idx.length; i++) {
          if (idx[i] < 0n || idx[i] >= total) {
            throw new RangeError(
              `${n.op} node '${n.name}': index ${idx[i]} out of range [0, ${total - 1n}]`,
            );
          }
        }
        y.fill(0);
        for (let i = 0; i < idx.length; i++) y[Number(idx[i])] = x[i];
      },
    };
  },
};

/** Col2Im's geometry: image and block sizes, and the block grid. */
function col2imShape(n: Node, ins: readonly (Meta | null)[]) {
  const [x] = need(n, ins, 3);
  expectType(n, x, 0, "float32");
  const image = knownInts(n, ins[1], "image_shape"), block = knownInts(n, ins[2], "block_shape");
  const r = image.length;
  if (r < 1 || block.length !== r) fail(n, "image_shape and block_shape must have one size a dim");
  if (x.dims.length !== 3) fail(n, "input must be 3-D [N, C·∏block, L]");
  const w = windowAttrs(n, r, block);
  if (image.some((d) => !(d >= 1))) fail(n, `image_shape [${image}] must be ≥ 1`);
  const grid = image.map((d, i) => {
    const span = (block[i] - 1) * w.dilations[i] + 1;
    return Math.floor((d + w.begin[i] + w.end[i] - span) / w.strides[i]) + 1;
  });
  const k = sizeOf(block);
  if (grid.some((g) => !(g >= 1)) || x.dims[1] % k !== 0 || x.dims[2] !== sizeOf(grid)) {
    fail(n, `input [${x.dims}] does not match blocks [${block}] over an image [${image}]`);
  }
  return { x, image, block, grid, w, channels: x.dims[1] / k };
}

const COL2IM: OpDef = {
  attributes: ["dilations", "pads", "strides"],
  infer(n, ins) {
    const s = col2imShape(n, ins);
    const dims = [s.x.dims[0], s.channels, ...s.image];
    checkedSize(n, dims);
    return [meta("float32", dims)];
  },
  build(n, ins, outs) {
    const { x, image, block, grid, w, channels } = col2imShape(n, ins);
    const r = image.length, K = sizeOf(block), L = sizeOf(grid), P = sizeOf(image);
    const xd = ins[0]!.data as Float32Array, yd = outs[0].data as Float32Array;
    const ks = stridesOf(block), gs = stridesOf(grid), is = stridesOf(image);
    // Each (kernel offset, block position) pair's image element, or −1 in the pads.
    const target = new Int32Array(K * L);
    for (let k = 0; k < K; k++) {
      for (let l = 0; l < L; l++) {
        let at = 0;
        for (let i = 0; i < r && at >= 0; i++) {
          const ki = Math.floor(k / ks[i]) % block[i], li = Math.floor(l / gs[i]) % grid[i];
          const p = li * w.strides[i] + ki * w.dilations[i] - w.begin[i];
          at = p >= 0 && p < image[i] ? at + p * is[i] : -1;
        }
        target[k * L + l] = at;
      }
    }
    const planes = x.dims[0] * channels;
    return {
      native: false,
      run: () => {
        yd.fill(0);
        for (let c = 0; c < planes; c++) {
          const xo = c * K * L, yo = c * P;
          for (let j = 0; j < K * L; j++) {
            if (target[j] >= 0) yd[yo + target[j]] += xd[xo + j];
          }
        }
      },
    };
  },
};

/** The window-scatter definitions. */
export const WINDOW_SCATTER_OPS: Record<string, OpDef> = {
  MaxUnpool: MAX_UNPOOL,
  Col2Im: COL2IM,
};
