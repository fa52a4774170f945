/**
 * NonMaxSuppression (opsets 10/11), as ONNX Runtime's CPU kernel selects:
 * per batch and class, the boxes by falling score (above score_threshold when
 * it is given; equal scores by lower index), each kept unless its
 * intersection over union with a box kept before exceeds iou_threshold, at
 * most max_output_boxes_per_class (absent or ≤ 0: none); the IoU in float32
 * with its order of operations; boxes as corners [y1, x1, y2, x2] (either
 * diagonal) or, with center_point_box 1, [x, y, width, height]. Output
 * [selected, 3] int64 (batch, class, box): its length is the data's, so a
 * plan made before the scores are known is cut there (plan.ts).
 */
import type { TensorData } from "../../onnx/dtype.ts";
import type { Node } from "../ir.ts";
import { expectType, fail, type Meta, meta, need, type OpDef } from "./op.ts";

const f = Math.fround;

/** Whether box b suppresses box c (ONNX Runtime's SuppressByIOU, float32 steps). */
function suppresses(
  boxes: Float32Array,
  b: number,
  c: number,
  center: boolean,
  iou: number,
): boolean {
  const p = boxes.subarray(4 * b, 4 * b + 4), q = boxes.subarray(4 * c, 4 * c + 4);
  let px0, px1, py0, py1, qx0, qx1, qy0, qy1;
  if (!center) {
    [px0, px1] = p[1] >= p[3] ? [p[3], p[1]] : [p[1], p[3]];
    [qx0, qx1] = q[1] >= q[3] ? [q[3], q[1]] : [q[1], q[3]];
    [py0, py1] = p[0] >= p[2] ? [p[2], p[0]] : [p[0], p[2]];
    [qy0, qy1] = q[0] >= q[2] ? [q[2], q[0]] : [q[0], q[2]];
  } else {
    const pw = f(p[2] / 2), ph = f(p[3] / 2), qw = f(q[2] / 2), qh = f(q[3] / 2);
    [px0, px1, qx0, qx1] = [f(p[0] - pw), f(p[0] + pw), f(q[0] - qw), f(q[0] + qw)];
    [py0, py1, qy0, qy1] = [f(p[1] - ph), f(p[1] + ph), f(q[1] - qh), f(q[1] + qh)];
  }
  const ix0 = Math.max(px0, qx0), ix1 = Math.min(px1, qx1);
  if (ix1 <= ix0) return false;
  const iy0 = Math.max(py0, qy0), iy1 = Math.min(py1, qy1);
  if (iy1 <= iy0) return false;
  const inter = f(f(ix1 - ix0) * f(iy1 - iy0));
  if (inter <= 0) return false;
  const a1 = f(f(px1 - px0) * f(py1 - py0)), a2 = f(f(qx1 - qx0) * f(qy1 - qy0));
  const union = f(f(a1 + a2) - inter);
  if (a1 <= 0 || a2 <= 0 || union <= 0) return false;
  return f(inter / union) > iou;
}

/** The selected (batch, class, box) triples. */
function select(
  n: Node,
  ins: readonly ({ dims: number[]; data: TensorData } | null)[],
): BigInt64Array {
  const [boxesT, scoresT, maxT, iouT, scoreT] = ins;
  const [batches, count] = boxesT!.dims, classes = scoresT!.dims[1];
  const boxes = boxesT!.data as Float32Array, scores = scoresT!.data as Float32Array;
  const most = maxT ? Math.max(0, Number(maxT.data[0])) : 0;
  const iou = iouT ? (iouT.data as Float32Array)[0] : 0;
  if (!(iou >= 0 && iou <= 1)) fail(n, `iou_threshold ${iou} is outside [0, 1]`);
  const threshold = scoreT ? (scoreT.data as Float32Array)[0] : null;
  const center = n.attrs.int("center_point_box", 0) === 1;
  const out: number[] = [];
  if (most === 0) return new BigInt64Array(0);
  for (let b = 0; b < batches; b++) {
    const bx = boxes.subarray(b * count * 4, (b + 1) * count * 4);
    for (let c = 0; c < classes; c++) {
      const s = scores.subarray((b * classes + c) * count, (b * classes + c + 1) * count);
      const order: number[] = [];
      for (let i = 0; i < count; i++) if (threshold === null || s[i] > threshold) order.push(i);
      order.sort((x, y) => s[y] - s[x] || x - y);
      const kept: number[] = [];
      for (const i of order) {
        if (kept.some((k) => suppresses(bx, k, i, center, iou))) continue;
        if (kept.length >= most) break;
        kept.push(i);
        out.push(b, c, i);
      }
    }
  }
  return BigInt64Array.from(out, (v) => BigInt(v));
}

function check(n: Node, ins: readonly (Meta | null)[]): void {
  const [boxes, scores] = need(n, ins, 2, 5);
  expectType(n, boxes, 0, "float32");
  expectType(n, scores, 1, "float32");
  const bd = boxes.dims, sd = scores.dims;
  if (bd.length !== 3 || bd[2] !== 4 || sd.length !== 3 || sd[0] !== bd[0] || sd[2] !== bd[1]) {
    fail(n, "boxes must be [batches, boxes, 4] and scores [batches, classes, boxes]");
  }
  if (ins[2]) expectType(n, ins[2], 2, "int64");
  if (ins[3]) expectType(n, ins[3], 3, "float32");
  if (ins[4]) expectType(n, ins[4], 4, "float32");
  const cpb = n.attrs.int("center_point_box", 0);
  if (cpb !== 0 && cpb !== 1) fail(n, `center_point_box must be 0 or 1, got ${cpb}`);
}

const NMS: OpDef = {
  attributes: ["center_point_box"],
  infer(n, ins) {
    check(n, ins);
    if (ins.some((m) => m !== null && m.data === null)) {
      fail(
        n,
        "its output's length is its scores' and boxes' values: planned per run (data-dependent shapes)",
      );
    }
    const data = select(n, ins as unknown as { dims: number[]; data: TensorData }[]);
    return [{ ...meta("int64", [data.length / 3, 3]), data }];
  },
  dynamic(n, ins) {
    check(n, ins as unknown as Meta[]);
    const data = select(n, ins);
    return [{ type: "int64", dims: [data.length / 3, 3], data }];
  },
  build: () => null,
};

/** NonMaxSuppression. */
export const NMS_OPS: Record<string, OpDef> = { NonMaxSuppression: NMS };
