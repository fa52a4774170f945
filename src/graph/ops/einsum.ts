/**
 * Einsum (opset 12). Two float operands whose letters are batch (both and
 * the output), rows (A and the output), columns (B and the output) and
 * contracted (A and B only), no letter repeated within a term: A and B
 * copied into [batch, rows, k] and [batch, k, columns] order (strided
 * copies), one GEMM per batch, the product copied into the output's order
 * — all Jit calls. Any other equation (one operand, sums over a letter of
 * one operand alone, diagonals, integer types) by a TypeScript loop over
 * every index, in float64. An output letter must appear in an input. `...`
 * names the dims no letter does, right-aligned across operands, with
 * letters of its own (the same sizes in every operand: no broadcasting).
 */
import type { TensorData } from "../../onnx/dtype.ts";
import type { Node } from "../ir.ts";
import { copyStep, StridedCopy } from "./copy.ts";
import {
  type Buf,
  type Env,
  fail,
  meta,
  need,
  type OpDef,
  sizeOf,
  type Step,
  stridesOf,
} from "./op.ts";

interface Equation {
  inputs: string[];
  output: string;
}

function parse(n: Node, ranks: readonly number[]): Equation {
  const eq = n.attrs.string("equation", "").replace(/\s+/g, "");
  const [lhs, rhs] = eq.includes("->") ? eq.split("->") : [eq, null];
  let inputs = lhs.split(",");
  if (inputs.length !== ranks.length) {
    fail(n, `equation '${eq}' has ${inputs.length} inputs, the node ${ranks.length}`);
  }
  for (const t of [...inputs, rhs ?? ""]) {
    if (!/^[A-Za-z]*(\.\.\.)?[A-Za-z]*$/.test(t)) {
      fail(n, `equation '${eq}': a term is letters with at most one '...'`);
    }
  }
  // "...": the dims no letter names, right-aligned across the operands (numpy's rule), each
  // named by a letter the equation does not use; the output's "..." (or an implicit
  // output's leading dims) are all of them.
  const used = new Set(eq.replace(/[^A-Za-z]/g, ""));
  const spare = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"].filter((c) =>
    !used.has(c)
  );
  const counts = inputs.map((t, i) => (t.includes("...") ? ranks[i] - (t.length - 3) : 0));
  if (counts.some((c) => c < 0)) {
    fail(n, `equation '${eq}': a term names more dims than its input has`);
  }
  const most = Math.max(0, ...counts), ellipsis = spare.slice(0, most).join("");
  inputs = inputs.map((t, i) => t.replace("...", ellipsis.slice(most - counts[i])));
  let output = rhs === null ? null : rhs.replace("...", ellipsis);
  if (output === null) {
    // Implicit: the "..." dims, then the letters appearing once, in alphabetical order.
    const seen = new Map<string, number>();
    for (const t of inputs) for (const c of t) seen.set(c, (seen.get(c) ?? 0) + 1);
    const once = [...seen].filter(([c, k]) => k === 1 && !ellipsis.includes(c)).map(([c]) => c);
    output = ellipsis + once.sort().join("");
  }
  for (const c of output) {
    if (!inputs.some((t) => t.includes(c))) fail(n, `output letter '${c}' is in no input`);
  }
  if (new Set(output).size !== output.length) fail(n, `output '${output}' repeats a letter`);
  return { inputs, output };
}

/** Each letter's size, checked across the operands. */
function sizes(n: Node, eq: Equation, dims: readonly (readonly number[])[]): Map<string, number> {
  const size = new Map<string, number>();
  eq.inputs.forEach((t, i) => {
    if (t.length !== dims[i].length) {
      fail(n, `term '${t}' has ${t.length} letters, input ${i} rank ${dims[i].length}`);
    }
    for (let j = 0; j < t.length; j++) {
      const s = size.get(t[j]);
      if (s !== undefined && s !== dims[i][j]) {
        fail(n, `letter '${t[j]}' is ${s} and ${dims[i][j]}`);
      }
      size.set(t[j], dims[i][j]);
    }
  });
  return size;
}

const EINSUM: OpDef = {
  attributes: ["equation"],
  infer(n, ins) {
    const xs = need(n, ins, 1, 8);
    const eq = parse(n, xs.map((x) => x.dims.length));
    for (const x of xs) {
      if (x.type !== xs[0].type) fail(n, "inputs differ in type");
    }
    const size = sizes(n, eq, xs.map((x) => x.dims));
    return [meta(xs[0].type, [...eq.output].map((c) => size.get(c)!))];
  },
  build(n, ins, outs, env) {
    const xs = ins as Buf[], y = outs[0];
    const eq = parse(n, xs.map((x) => x.dims.length)), size = sizes(n, eq, xs.map((x) => x.dims));
    return (xs.length === 2 && y.type === "float32" && gemmForm(eq, xs, y, size, env)) ||
      loopStep(eq, xs, y, size);
  },
};

/** The batched-GEMM form of a two-operand equation, or null where it does not apply. */
function gemmForm(
  eq: Equation,
  xs: Buf[],
  y: Buf,
  size: Map<string, number>,
  env: Env,
): Step | null {
  const [ta, tb] = eq.inputs, to = eq.output;
  if (new Set(ta).size !== ta.length || new Set(tb).size !== tb.length) return null;
  const batch: string[] = [], rows: string[] = [], cols: string[] = [], k: string[] = [];
  for (const c of new Set([...ta, ...tb])) {
    const a = ta.includes(c), b = tb.includes(c), o = to.includes(c);
    if (a && b && o) batch.push(c);
    else if (a && b) k.push(c);
    else if (a && o) rows.push(c);
    else if (b && o) cols.push(c);
    else return null; // summed over in one operand alone
  }
  const count = (ls: string[]) => ls.reduce((p, c) => p * size.get(c)!, 1);
  const B = count(batch), M = count(rows), N = count(cols), K = count(k);
  // An operand, or the product, copied into the order of `letters` (its dims, its strides).
  const into = (term: string, letters: string[]) => {
    const st = stridesOf([...term].map((c) => size.get(c)!));
    return {
      dims: letters.map((c) => size.get(c)!),
      strides: letters.map((c) => st[term.indexOf(c)]),
    };
  };
  const aOrder = [...batch, ...rows, ...k], bOrder = [...batch, ...k, ...cols];
  const cOrder = [...batch, ...rows, ...cols];
  const av = into(ta, aOrder), bv = into(tb, bOrder);
  const ap = new Float32Array(B * M * K), bp = new Float32Array(B * K * N);
  const cp = new Float32Array(B * M * N);
  // The product [batch, rows, cols] to the output's order: walk the output, read cp.
  const cst = stridesOf(cOrder.map((c) => size.get(c)!));
  const yDims = [...to].map((c) => size.get(c)!);
  const toY = new StridedCopy(yDims, [...to].map((c) => cst[cOrder.indexOf(c)]), stridesOf(yDims));
  const steps = [
    copyStep([[new StridedCopy(av.dims, av.strides, stridesOf(av.dims)), xs[0].data, ap]], env.jit),
    copyStep([[new StridedCopy(bv.dims, bv.strides, stridesOf(bv.dims)), xs[1].data, bp]], env.jit),
  ];
  const out = copyStep([[toY, cp, y.data as TensorData]], env.jit);
  const jit = env.jit, options = { m: M, n: N, k: K };
  const views = Array.from({ length: B }, (_, b) => [
    ap.subarray(b * M * K, (b + 1) * M * K),
    bp.subarray(b * K * N, (b + 1) * K * N),
    cp.subarray(b * M * N, (b + 1) * M * N),
  ]);
  return {
    native: steps.every((s) => s.native) && out.native,
    run: () => {
      for (const s of steps) s.run();
      for (const [a, b, c] of views) jit.gemm(a, b, c, options);
      out.run();
    },
  };
}

/** Any equation: for each output index, the sum over the other letters, in float64. */
function loopStep(eq: Equation, xs: Buf[], y: Buf, size: Map<string, number>): Step {
  const out = [...eq.output], summed = [...size.keys()].filter((c) => !eq.output.includes(c));
  const letters = [...out, ...summed], dims = letters.map((c) => size.get(c)!);
  // Per operand, the stride of each letter (a letter repeated in a term adds its strides: a diagonal).
  const strides = xs.map((x, i) => {
    const st = stridesOf(x.dims), term = eq.inputs[i];
    return letters.map((c) => {
      let s = 0;
      for (let j = 0; j < term.length; j++) if (term[j] === c) s += st[j];
      return s;
    });
  });
  const outer = sizeOf(out.map((c) => size.get(c)!)),
    inner = sizeOf(summed.map((c) => size.get(c)!));
  const big = y.data instanceof BigInt64Array || y.data instanceof BigUint64Array,
    yd = y.data as unknown as { [i: number]: number | bigint };
  const datas = xs.map((x) => x.data as unknown as { [i: number]: number | bigint });
  const idx = new Int32Array(letters.length);
  return {
    native: false,
    run: () => {
      for (let o = 0; o < outer; o++) {
        let acc = 0;
        for (let s = 0; s < inner; s++) {
          // The index of every letter: the output's from o, the summed ones from s.
          let rem = o;
          for (let d = out.length - 1; d >= 0; d--) {
            idx[d] = rem % dims[d];
            rem = Math.floor(rem / dims[d]);
          }
          rem = s;
          for (let d = letters.length - 1; d >= out.length; d--) {
            idx[d] = rem % dims[d];
            rem = Math.floor(rem / dims[d]);
          }
          let prod = 1;
          for (let i = 0; i < datas.length; i++) {
            let at = 0;
            for (let d = 0; d < letters.length; d++) at += idx[d] * strides[i][d];
            prod *= Number(datas[i][at]);
          }
          acc += prod;
        }
        yd[o] = big ? BigInt(Math.trunc(acc)) : acc;
      }
    },
  };
}

/** The Einsum definition. */
export const EINSUM_OPS: Record<string, OpDef> = { Einsum: EINSUM };
