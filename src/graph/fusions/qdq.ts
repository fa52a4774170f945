/**
 * QDQ node groups into the QOperator ops ONNX Runtime's CPU provider turns
 * them into (its QDQ selector–action transformer), so a QDQ model runs
 * 8-bit kernels and gives ONNX Runtime's bytes:
 * - DequantizeLinear(x), DequantizeLinear(W), [DequantizeLinear(B, int32)]
 *   → Conv → [Relu] → QuantizeLinear becomes QLinearConv (B's int32 taken
 *   as it is, as ONNX Runtime takes it);
 * - DequantizeLinear(a), DequantizeLinear(B, constant 2-D, per tensor or
 *   column) → MatMul → [Relu] → QuantizeLinear becomes QLinearMatMul;
 * - DequantizeLinear(a), DequantizeLinear(b) → Add or Mul → [Relu] →
 *   QuantizeLinear becomes com.microsoft QLinearAdd or QLinearMul;
 * - DequantizeLinear → GlobalAveragePool, AveragePool, LeakyRelu or Sigmoid
 *   → QuantizeLinear becomes its com.microsoft QLinear op;
 * - DequantizeLinear → MaxPool → QuantizeLinear of the same positive scale
 *   and zero point becomes MaxPool of the bytes (exactly the pair's result).
 * A Relu before a QuantizeLinear whose zero point is its type's least value
 * changes nothing (the quantization clamps there) and goes. Scales and zero
 * points must be constant (W's scale also one per output channel), every
 * DequantizeLinear of an activation read by the group alone, input and
 * output of one type; uint8 activations for Conv and MatMul (int8 ones where
 * ONNX Runtime's x86 build may not fuse them stay float).
 *
 * It runs before constant folding, while the weights' DequantizeLinear nodes
 * still name the 8-bit initializers.
 */
import type { Node } from "../ir.ts";
import { type Fusion, GraphIndex, is, removeNodes } from "./fusion.ts";

/** A DequantizeLinear's parts: the bytes it reads, its scale and zero point (names). */
interface Dequantized {
  node: Node;
  q: string;
  scale: string;
  zero: string;
}

const BYTE_TYPES = new Set(["uint8", "int8"]);
/** One-input ops whose QDQ group becomes a QLinear op (MaxPool: the bytes' own MaxPool). */
const UNARY = new Set(["GlobalAveragePool", "AveragePool", "LeakyRelu", "Sigmoid", "MaxPool"]);

export const QDQ_GROUPS: Fusion = {
  name: "QDQ groups into QOperator ops",
  apply(g) {
    const idx = new GraphIndex(g), dead = new Set<Node>();
    /** The DequantizeLinear producing `value` with constant scalar scale and zero point. */
    const dequantized = (
      value: string,
      perChannel = 0,
      axis = 0,
      constantOk = false,
    ): Dequantized | null => {
      const dq = idx.producer.get(value) ?? null;
      if (!is(dq, "DequantizeLinear") || dead.has(dq) || dq.attrs.has("block_size")) return null;
      // An activation's DequantizeLinear read by this group alone (weights are constants; an
      // Add's or Mul's constant side, a bias, is one too).
      const constant = idx.constant(dq.inputs[0]) !== null;
      if (perChannel === 0 && constant && !constantOk) return null;
      if (perChannel === 0 && !constant && !idx.soleReader(value)) return null;
      const [q, scale, zero = ""] = dq.inputs;
      const s = idx.constant(scale), z = zero === "" ? null : idx.constant(zero);
      if (!s || s.type !== "float32" || zero === "" || !z) return null;
      const count = s.data.length;
      if (count !== 1 && !(perChannel > 0 && count === perChannel)) return null;
      if (z.data.length !== count) return null;
      if (count > 1) {
        const rank = idx.constant(q)?.dims.length ?? 0, a = dq.attrs.int("axis", 1);
        if ((a < 0 ? a + rank : a) !== axis) return null;
      }
      return { node: dq, q, scale, zero };
    };
    /** The type of a byte value: its constant's, or its DequantizeLinear zero point's. */
    const byteType = (d: Dequantized) => idx.constant(d.zero)!.type;
    /**
     * The QuantizeLinear ending a group at `value` (through a Relu the quantization
     * makes redundant), read by nothing else; [Q, the Relu or null].
     */
    const quantizedOut = (value: string): [Node, Node | null] | null => {
      let reader = idx.soleReader(value), relu: Node | null = null;
      if (is(reader, "Relu")) {
        relu = reader;
        reader = idx.soleReader(relu.outputs[0]);
      }
      if (!is(reader, "QuantizeLinear") || dead.has(reader) || reader.inputs.length < 3) {
        return null;
      }
      const s = idx.constant(reader.inputs[1]), z = idx.constant(reader.inputs[2]);
      if (!s || s.type !== "float32" || s.data.length !== 1 || !z || z.data.length !== 1) {
        return null;
      }
      if (!BYTE_TYPES.has(z.type) || reader.attrs.has("block_size")) return null;
      if (relu && Number(z.data[0]) !== (z.type === "int8" ? -128 : 0)) return null;
      return [reader, relu];
    };
    const finish = (n: Node, q: Node, relu: Node | null) => {
      n.outputs = [q.outputs[0]];
      dead.add(q);
      if (relu) dead.add(relu);
    };
    let count = 0;
    for (const n of g.nodes) {
      if (dead.has(n) || n.outputs.length < 1) continue;
      if (is(n, "Conv") && n.inputs.length >= 2) {
        const w = idx.constant(n.inputs[1]) ? null : idx.producer.get(n.inputs[1]);
        const wc = w ? idx.constant(w.inputs[0]) : null;
        if (!wc || !BYTE_TYPES.has(wc.type)) continue;
        const oc = wc.dims[0];
        const dx = dequantized(n.inputs[0]), dw = dequantized(n.inputs[1], oc);
        const out = quantizedOut(n.outputs[0]);
        if (!dx || !dw || !out) continue;
        const xType = byteType(dx), yType = idx.constant(out[0].inputs[2])!.type;
        if (xType !== "uint8" || yType !== "uint8") continue;
        // The bias: its int32 values (QLinearConv's B), whatever its scale says.
        let bias = "";
        if (n.inputs[2]) {
          const db = dequantized(n.inputs[2], oc);
          const bq = db ? idx.constant(db.q) : null;
          if (!db || !bq || bq.type !== "int32") continue;
          bias = db.q;
        }
        n.op = "QLinearConv";
        n.inputs = [dx.q, dx.scale, dx.zero, dw.q, dw.scale, dw.zero, ...out[0].inputs.slice(1, 3)];
        if (bias) n.inputs.push(bias);
        finish(n, out[0], out[1]);
        count++;
      } else if (is(n, "MatMul") && n.inputs.length === 2) {
        // Constant 2-D B, a scale per tensor or per column; ended by a QuantizeLinear (ONNX
        // Runtime leaves a MatMul without one unfused by default).
        const w = idx.constant(n.inputs[1]) ? null : idx.producer.get(n.inputs[1]);
        const bc = w ? idx.constant(w.inputs[0]) : null;
        if (!bc || !BYTE_TYPES.has(bc.type) || bc.dims.length !== 2) continue;
        const da = dequantized(n.inputs[0]), db = dequantized(n.inputs[1], bc.dims[1], 1);
        const out = quantizedOut(n.outputs[0]);
        if (!da || !db || !out) continue;
        const t = byteType(da);
        if (t !== "uint8" || idx.constant(out[0].inputs[2])!.type !== t) continue;
        n.op = "QLinearMatMul";
        n.inputs = [da.q, da.scale, da.zero, db.q, db.scale, db.zero, ...out[0].inputs.slice(1, 3)];
        finish(n, out[0], out[1]);
        count++;
      } else if ((is(n, "Add") || is(n, "Mul")) && n.inputs.length === 2) {
        const da = dequantized(n.inputs[0], 0, 0, true), db = dequantized(n.inputs[1], 0, 0, true);
        const out = quantizedOut(n.outputs[0]);
        if (!da || !db || !out || da.node === db.node) continue;
        if (idx.constant(da.q) && idx.constant(db.q)) continue; // folded, not fused
        const t = byteType(da);
        if (byteType(db) !== t || idx.constant(out[0].inputs[2])!.type !== t) continue;
        n.op = `QLinear${n.op}`;
        n.domain = "com.microsoft";
        n.opset = 1;
        n.inputs = [da.q, da.scale, da.zero, db.q, db.scale, db.zero, ...out[0].inputs.slice(1, 3)];
        finish(n, out[0], out[1]);
        count++;
      } else if (UNARY.has(n.op) && n.domain === "") {
        const dx = dequantized(n.inputs[0]), out = quantizedOut(n.outputs[0]);
        if (!dx || !out || out[1] || (n.outputs.length > 1 && n.outputs[1] !== "")) continue;
        const [q] = out, t = byteType(dx);
        if (idx.constant(q.inputs[2])!.type !== t) continue;
        if (n.op === "MaxPool") {
          // Exactly the pair's bytes only where y's scale and zero point are x's, the scale
          // positive (a negative one would reverse the order).
          if (!sameScalar(idx, dx.scale, q.inputs[1]) || !sameScalar(idx, dx.zero, q.inputs[2])) {
            continue;
          }
          if (!((idx.scalar(dx.scale) ?? 0) > 0) || n.opset < 12) continue;
          n.inputs = [dx.q];
        } else {
          if (n.op === "GlobalAveragePool") n.attrs = n.attrs.with({ channels_last: 0 });
          n.op = `QLinear${n.op}`;
          n.domain = "com.microsoft";
          n.opset = 1;
          n.inputs = [dx.q, dx.scale, dx.zero, ...q.inputs.slice(1, 3)];
        }
        finish(n, q, null);
        count++;
      }
    }
    removeNodes(g, dead);
    return count;
  },
};

function sameScalar(idx: GraphIndex, a: string, b: string): boolean {
  const va = idx.scalar(a), vb = idx.scalar(b);
  return va !== null && Object.is(va, vb) && idx.constant(a)!.type === idx.constant(b)!.type;
}
