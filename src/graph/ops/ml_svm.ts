/**
 * ONNX-ML's support vector machines (domain ai.onnx.ml), as scikit-learn's
 * SVR and SVC convert, computed as ONNX Runtime's CPU kernels compute them
 * (float32): the kernel of a row against each support vector (LINEAR,
 * POLY (γ·x·v + c₀)^d, RBF e^(−γ‖x − v‖²), SIGMOID tanh(γ·x·v + c₀)), or
 * without support vectors the linear form x·w + ρ.
 *
 * SVMRegressor: Σ coefficients·kernels + ρ₀ (one_class: its sign as ±1).
 * SVMClassifier: one-against-one over the classes, each pair's score from
 * both classes' support vectors (summed in double, as onnxruntime sums them)
 * plus its ρ, a vote to the winner; the label the most votes' (the linear
 * form: the top score's); with prob_a/prob_b each pair's Platt probability
 * and the classes' probabilities by onnxruntime's iteration
 * (multiclass_probability); two classes as onnxruntime scores them.
 * Integer labels here (string ones become indexes at the session's edge:
 * graph/load.ts).
 *
 * Where the Jit runs, the kernels come from its op families a chunk of rows
 * at a time (RBF: squaredDistances, × −γ, exp; the others as onnxruntime's
 * batched GEMM), the classifier's coefficient × kernel products from one
 * broadcast multiply, the regressor's sums from one GEMM; else the same
 * steps in TypeScript.
 */
import type { Node } from "../ir.ts";
import type { Jit } from "../../runtime/jit.ts";
import type { GemmOptions } from "../../kernels/gemm/mod.ts";
import type { SquaredDistancesOptions } from "../../kernels/distances/mod.ts";
import { expectType, fail, meta, nativeJit, need, type OpDef, STRING_LABELS } from "./op.ts";
import { logistic, type Transform, transform, TRANSFORMS } from "./ml_trees.ts";

const f = Math.fround;

const KERNELS = ["LINEAR", "POLY", "RBF", "SIGMOID"];

/** The kernel of a row against support vectors: `into[to + v]` for each of `count`. */
type KernelRow = (x: Float32Array, at: number, into: Float32Array, to: number) => void;

/** The row kernel of `kind` over `count` support vectors of `c` features (float32 steps). */
function kernelRow(n: Node, kind: string, sv: Float32Array, count: number, c: number): KernelRow {
  const [gamma, coef0, degree] = kernelParams(n);
  return (x, at, into, to) => {
    for (let v = 0; v < count; v++) {
      let s = 0;
      if (kind === "RBF") {
        for (let j = 0; j < c; j++) {
          const d = f(x[at + j] - sv[v * c + j]);
          s = f(s + f(d * d));
        }
        into[to + v] = f(Math.exp(f(-gamma * s)));
        continue;
      }
      for (let j = 0; j < c; j++) s = f(s + f(x[at + j] * sv[v * c + j]));
      if (kind !== "LINEAR") s = f(f(gamma * s) + coef0);
      into[to + v] = kind === "POLY" ? f(s ** degree) : kind === "SIGMOID" ? f(Math.tanh(s)) : s;
    }
  };
}

/** gamma, coef0 and degree as float32. */
function kernelParams(n: Node): number[] {
  return (n.attrs.floats("kernel_params") ?? [0, 0, 0]).map(f);
}

/**
 * Rows' kernels in chunks: `run(x, from, to)` (from a multiple of `chunk`,
 * to at most `chunk` past it) leaves row r's kernel against support vector
 * v in `kernels[(r − from)·count + v]`.
 */
interface KernelRows {
  chunk: number;
  kernels: Float32Array;
  run(x: Float32Array, from: number, to: number): void;
}

/** A chunk of rows' kernel calls: its views and options. */
interface KernelPart {
  x: Float32Array;
  /** Distances or products before the kernel's function. */
  d: Float32Array;
  y: Float32Array;
  dims: number[];
  distances: SquaredDistancesOptions;
  gemm: GemmOptions;
}

/** Kernels a chunk holds at most (1 MiB). */
const KERNELS_PER_CHUNK = 1 << 18;

/**
 * The kernels of `rows` rows of X against `count` support vectors `sv`
 * (`c` features each), where the Jit runs (`jit`) by its op families: RBF
 * the squared distances by squaredDistances — the bits of the scalar sum
 * onnxruntime computes —, times −γ, then exp (within 4 ulp of the correctly
 * rounded e^x the TypeScript step takes); the others as onnxruntime's
 * batched GEMM (γ·x·vᵀ + c₀), then the power or tanh. Else the TypeScript
 * row kernel (float32 steps, the dot products in order).
 */
function kernelRows(
  n: Node,
  kind: string,
  sv: Float32Array,
  count: number,
  c: number,
  rows: number,
  jit: Jit | null,
): KernelRows {
  const chunk = Math.max(1, Math.min(rows, Math.floor(KERNELS_PER_CHUNK / Math.max(count, 1))));
  const kernels = new Float32Array(chunk * Math.max(count, 1));
  if (jit === null || count === 0) {
    const row = kernelRow(n, kind, sv, count, c);
    return {
      chunk,
      kernels,
      run: (x, from, to) => {
        for (let r = from; r < to; r++) row(x, r * c, kernels, (r - from) * count);
      },
    };
  }
  // The support vectors as columns (c × count): a vector of them is consecutive floats.
  const columns = new Float32Array(c * count);
  for (let v = 0; v < count; v++) {
    for (let j = 0; j < c; j++) columns[j * count + v] = sv[v * c + j];
  }
  const [gamma, coef0, degree] = kernelParams(n);
  const negGamma = Float32Array.of(-gamma), scaled = new Float32Array(kernels.length);
  // LINEAR, POLY and SIGMOID as onnxruntime computes them: a GEMM γ·x·vᵀ + c₀ (x·vᵀ for LINEAR),
  // then the square, the cube or the power of POLY, the tanh of SIGMOID.
  const linear = kind === "LINEAR", exponent = Float32Array.of(degree);
  const offset = new Float32Array(count).fill(linear ? 0 : coef0);
  const one = [1];
  const dotKernels = (p: KernelPart) => {
    jit.gemm(p.x, columns, linear ? p.y : p.d, p.gemm);
    if (kind === "SIGMOID") jit.unary("tanh", p.d, p.y);
    else if (kind === "POLY") {
      if (degree === 2) jit.binary("mul", p.d, p.dims, p.d, p.dims, p.y);
      else if (degree === 3) {
        jit.binary("mul", p.d, p.dims, p.d, p.dims, p.y);
        jit.binary("mul", p.y, p.dims, p.d, p.dims, p.y);
      } else jit.binary("pow", p.d, p.dims, exponent, one, p.y);
    }
  };
  // Each chunk's views and options, made once per x (a plan's x is fixed): a run allocates
  // nothing.
  let seen: Float32Array | null = null;
  const parts: KernelPart[] = [];
  return {
    chunk,
    kernels,
    run: (x, from) => {
      if (x !== seen) {
        seen = x;
        parts.length = 0;
        for (let at = 0; at < rows; at += chunk) {
          const m = Math.min(chunk, rows - at);
          parts.push({
            x: x.subarray(at * c, (at + m) * c),
            d: scaled.subarray(0, m * count),
            y: kernels.subarray(0, m * count),
            dims: [m * count],
            distances: { m, n: count, k: c },
            gemm: linear
              ? { m, n: count, k: c }
              : { m, n: count, k: c, alpha: gamma, bias: offset },
          });
        }
      }
      const p = parts[from / chunk];
      if (kind !== "RBF") return dotKernels(p);
      jit.squaredDistances(p.x, columns, p.d, p.distances);
      jit.binary("mul", p.d, p.dims, negGamma, one, p.d);
      jit.unary("exp", p.d, p.y);
    },
  };
}

/** X's checks and its rows and features ([N, C] or [C]). */
function rowsOf(n: Node, dims: readonly number[]): [number, number] {
  if (dims.length > 2 || dims.length === 0) {
    fail(n, `X must be [N, C] or [C], got rank ${dims.length}`);
  }
  return dims.length === 2 ? [dims[0], dims[1]] : [1, dims[0]];
}

/** The kernel type, checked; kernel_params required where it uses them. */
function kernelOf(n: Node, supports: number): string {
  const kind = n.attrs.string("kernel_type", "LINEAR");
  if (!KERNELS.includes(kind)) fail(n, `kernel_type '${kind}' is not ${KERNELS.join(", ")}`);
  if (supports > 0 && kind !== "LINEAR" && (n.attrs.floats("kernel_params") ?? []).length < 3) {
    fail(n, "kernel_params (gamma, coef0, degree) are required");
  }
  return supports > 0 ? kind : "LINEAR";
}

const SVM_REGRESSOR: OpDef = {
  attributes: [
    "coefficients",
    "kernel_params",
    "kernel_type",
    "n_supports",
    "one_class",
    "post_transform",
    "rho",
    "support_vectors",
  ],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, "float32");
    const [rows, c] = rowsOf(n, x.dims), supports = n.attrs.int("n_supports", 0);
    const coef = n.attrs.floats("coefficients"), rho = n.attrs.floats("rho");
    if (!coef || coef.length === 0 || !rho || rho.length === 0) {
      fail(n, "coefficients and rho are required");
    }
    kernelOf(n, supports);
    if (supports > 0) {
      const sv = n.attrs.floats("support_vectors") ?? [];
      if (sv.length !== supports * c || coef.length !== supports) {
        fail(
          n,
          `${supports} support vectors of ${c} features need ${supports * c} values and ` +
            `${supports} coefficients, got ${sv.length} and ${coef.length}`,
        );
      }
    } else if (coef.length !== c) fail(n, `${coef.length} coefficients for ${c} features`);
    return [meta("float32", [rows, 1])];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!.data as Float32Array, [rows, c] = rowsOf(n, ins[0]!.dims);
    const y = outs[0].data as Float32Array;
    const supports = n.attrs.int("n_supports", 0), oneClass = n.attrs.int("one_class", 0) !== 0;
    const coef = Float32Array.from(n.attrs.floats("coefficients")!);
    const rho = f(n.attrs.floats("rho")![0]);
    const sv = Float32Array.from(n.attrs.floats("support_vectors") ?? []);
    const kind = kernelOf(n, supports), jit = nativeJit(env);
    const block = kernelRows(n, kind, sv, supports, c, rows, jit);
    const { chunk, kernels: k } = block;
    if (jit && rows >= 1) {
      // Σ coefficients·kernels + ρ (x·coefficients + ρ without support vectors) by one GEMM a
      // chunk, as onnxruntime computes it; one_class's sign here.
      const bias = Float32Array.of(rho), m = supports > 0 ? chunk : Math.min(rows, 1 << 20);
      // Each chunk's operands and options, made once (a plan's x and y are fixed).
      const calls: {
        from: number;
        to: number;
        a: Float32Array;
        out: Float32Array;
        options: GemmOptions;
      }[] = [];
      for (let r = 0; r < rows; r += m) {
        const to = Math.min(rows, r + m), count = to - r;
        calls.push({
          from: r,
          to,
          a: supports > 0 ? k.subarray(0, count * supports) : x.subarray(r * c, to * c),
          out: y.subarray(r, to),
          options: { m: count, n: 1, k: supports > 0 ? supports : c, bias },
        });
      }
      return {
        native: false,
        run: () => {
          for (const call of calls) {
            if (supports > 0) block.run(x, call.from, call.to);
            jit.gemm(call.a, coef, call.out, call.options);
          }
          if (oneClass) { for (let r = 0; r < rows; r++) y[r] = y[r] > 0 ? 1 : -1; }
        },
      };
    }
    return {
      native: false,
      run: () => {
        for (let r = 0; r < rows; r++) {
          let s = 0;
          if (supports > 0) {
            if (r % chunk === 0) block.run(x, r, Math.min(rows, r + chunk));
            const at = (r % chunk) * supports;
            for (let v = 0; v < supports; v++) s = f(s + f(k[at + v] * coef[v]));
          } else for (let j = 0; j < c; j++) s = f(s + f(x[r * c + j] * coef[j]));
          s = f(s + rho);
          y[r] = oneClass ? (s > 0 ? 1 : -1) : s;
        }
      },
    };
  },
};

/**
 * The classes' probabilities from the pairwise ones `r` (k×k), by
 * onnxruntime's form of Wu, Lin and Weng's iteration (float32, at most 100
 * rounds), into `p`; `q` (k×k) and `qp` (k) are its scratch.
 */
function multiclassProbability(
  k: number,
  r: Float32Array,
  p: Float32Array,
  q: Float32Array,
  qp: Float32Array,
): void {
  q.fill(0);
  const eps = f(0.005 / k);
  for (let i = 0; i < k; i++) {
    p[i] = f(1 / k);
    for (let j = 0; j < i; j++) {
      q[i * k + i] = f(q[i * k + i] + f(r[j * k + i] * r[j * k + i]));
      q[i * k + j] = q[j * k + i];
    }
    for (let j = i + 1; j < k; j++) {
      q[i * k + i] = f(q[i * k + i] + f(r[j * k + i] * r[j * k + i]));
      q[i * k + j] = f(-f(r[j * k + i] * r[i * k + j]));
    }
  }
  for (let loop = 0; loop < 100; loop++) {
    let pqp = 0;
    for (let i = 0; i < k; i++) {
      qp[i] = 0;
      for (let j = 0; j < k; j++) qp[i] = f(qp[i] + f(q[i * k + j] * p[j]));
      pqp = f(pqp + f(p[i] * qp[i]));
    }
    let maxError = 0;
    for (let i = 0; i < k; i++) {
      const e = Math.abs(f(qp[i] - pqp));
      if (e > maxError) maxError = e;
    }
    if (maxError < eps) break;
    for (let i = 0; i < k; i++) {
      const diff = f(f(-qp[i] + pqp) / q[i * k + i]);
      p[i] = f(p[i] + diff);
      pqp = f(
        f(f(pqp + f(diff * f(f(diff * q[i * k + i]) + f(2 * qp[i])))) / f(1 + diff)) / f(1 + diff),
      );
      for (let j = 0; j < k; j++) {
        qp[j] = f(f(qp[j] + f(diff * q[i * k + j])) / f(1 + diff));
        p[j] = f(p[j] / f(1 + diff));
      }
    }
  }
}

const SVM_CLASSIFIER: OpDef = {
  attributes: [
    "classlabels_ints",
    "classlabels_strings",
    "coefficients",
    "kernel_params",
    "kernel_type",
    "post_transform",
    "prob_a",
    "prob_b",
    "rho",
    "support_vectors",
    "vectors_per_class",
  ],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, "float32");
    const [rows, c] = rowsOf(n, x.dims);
    if (n.attrs.strings("classlabels_strings")) {
      fail(n, STRING_LABELS);
    }
    const labels = n.attrs.ints("classlabels_ints");
    if (!labels || labels.length < 2) fail(n, "classlabels_ints (2 classes or more) is required");
    const k = labels.length, pairs = (k * (k - 1)) / 2;
    const coef = n.attrs.floats("coefficients") ?? [], rho = n.attrs.floats("rho") ?? [];
    const perClass = n.attrs.ints("vectors_per_class") ?? [];
    const vectors = perClass.reduce((a, b) => a + b, 0);
    const probA = n.attrs.floats("prob_a") ?? [], probB = n.attrs.floats("prob_b") ?? [];
    if (probA.length !== probB.length) fail(n, "prob_a and prob_b differ in length");
    const post = n.attrs.string("post_transform", "NONE") as Transform;
    if (!TRANSFORMS.includes(post)) fail(n, `post_transform '${post}' is not supported`);
    kernelOf(n, vectors);
    let width = k;
    if (vectors > 0) {
      if (perClass.length !== k) {
        fail(n, `vectors_per_class has ${perClass.length} classes, not ${k}`);
      }
      if (perClass.some((v) => !(v >= 0))) fail(n, "vectors_per_class holds a negative count");
      const sv = n.attrs.floats("support_vectors") ?? [];
      if (sv.length !== vectors * c) {
        fail(n, `${vectors} support vectors of ${c} features need ${vectors * c} values`);
      }
      if (coef.length < (k - 1) * vectors) {
        fail(n, `coefficients must hold ${k - 1}×${vectors} values, got ${coef.length}`);
      }
      if (rho.length < pairs) fail(n, `rho must hold ${pairs} values, got ${rho.length}`);
      if (probA.length > 0 && probA.length < pairs) fail(n, `prob_a must hold ${pairs} values`);
      if (probA.length === 0) width = k > 2 ? pairs : 2;
      if (probA.length === 0 && k === 2 && post === "PROBIT") {
        fail(n, "PROBIT of two classes' one score is not supported (onnxruntime leaves a column)");
      }
    } else {
      if (coef.length !== k * c) fail(n, `coefficients must hold ${k}×${c} values`);
      if (rho.length < 1) fail(n, "rho is required");
    }
    return [meta("int64", [rows]), meta("float32", [rows, width])];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!.data as Float32Array, [rows, c] = rowsOf(n, ins[0]!.dims);
    const labels = n.attrs.ints("classlabels_ints")!, k = labels.length, pairs = (k * (k - 1)) / 2;
    const coef = Float32Array.from(n.attrs.floats("coefficients")!);
    const rho = Float32Array.from(n.attrs.floats("rho")!);
    const perClass = n.attrs.ints("vectors_per_class") ?? [];
    const vectors = perClass.reduce((a, b) => a + b, 0), svc = vectors > 0;
    const start = perClass.map((_, i) => perClass.slice(0, i).reduce((a, b) => a + b, 0));
    const probA = Float32Array.from(n.attrs.floats("prob_a") ?? []);
    const probB = Float32Array.from(n.attrs.floats("prob_b") ?? []), proba = probA.length > 0;
    const post = n.attrs.string("post_transform", "NONE") as Transform;
    const positive = coef.every((v) => v >= 0);
    const sv = Float32Array.from(n.attrs.floats("support_vectors") ?? []);
    const jit = nativeJit(env);
    const block = kernelRows(n, kernelOf(n, vectors), sv, vectors, c, rows, jit);
    const { chunk, kernels: kern } = block;
    // Each row's float32 products coefficient × kernel, [k − 1][vectors] a row, in a chunk's
    // rows: by the Jit's broadcast multiply where it runs (one call a chunk), else per row here.
    const terms = (k - 1) * vectors, products = new Float32Array(chunk * Math.max(terms, 1));
    // (Per chunk size — a whole chunk and the last — its views and shapes, made once.)
    const coefDims = [1, k - 1, vectors], coefs = coef.subarray(0, terms);
    const productCalls = new Map<number, [Float32Array, number[], Float32Array]>();
    const productsOf = (m: number) => {
      let call = productCalls.get(m);
      if (call === undefined) {
        call = [kern.subarray(0, m * vectors), [m, 1, vectors], products.subarray(0, m * terms)];
        productCalls.set(m, call);
      }
      jit!.binary("mul", call[0], call[1], coefs, coefDims, call[2]);
    };
    // Each pair's score, [pairs] a row of the chunk: the class i vectors' products with
    // coefficient row j − 1, then the class j vectors' with row i, summed in double in that
    // order (as onnxruntime sums each pair), plus its ρ.
    const sums = new Float64Array(chunk * Math.max(pairs, 1));
    const ranges: [number, number, number, number][] = [];
    for (let i = 0; i < k - 1; i++) {
      for (let j = i + 1; j < k; j++) {
        ranges.push([
          (j - 1) * vectors + start[i],
          perClass[i],
          i * vectors + start[j],
          perClass[j],
        ]);
      }
    }
    /** The kernels, products and pair sums of rows [from, to). */
    const scoreChunk = (from: number, to: number) => {
      const m = to - from;
      block.run(x, from, to);
      if (jit) productsOf(m);
      else {
        for (let r = 0; r < m; r++) {
          for (let t = 0; t < terms; t++) {
            products[r * terms + t] = f(coef[t] * kern[r * vectors + (t % vectors)]);
          }
        }
      }
      for (let p = 0; p < pairs; p++) {
        const [a0, an, b0, bn] = ranges[p], bias = rho[p];
        // Four rows at a time: four sums in flight (each a chain of double additions).
        let r = 0;
        for (; r + 4 <= m; r += 4) {
          let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
          const o = r * terms;
          for (let t = o + a0, e = t + an; t < e; t++) {
            s0 += products[t];
            s1 += products[t + terms];
            s2 += products[t + 2 * terms];
            s3 += products[t + 3 * terms];
          }
          for (let t = o + b0, e = t + bn; t < e; t++) {
            s0 += products[t];
            s1 += products[t + terms];
            s2 += products[t + 2 * terms];
            s3 += products[t + 3 * terms];
          }
          sums[r * pairs + p] = s0 + bias;
          sums[(r + 1) * pairs + p] = s1 + bias;
          sums[(r + 2) * pairs + p] = s2 + bias;
          sums[(r + 3) * pairs + p] = s3 + bias;
        }
        for (; r < m; r++) {
          let s0 = 0;
          const o = r * terms;
          for (let t = o + a0, e = t + an; t < e; t++) s0 += products[t];
          for (let t = o + b0, e = t + bn; t < e; t++) s0 += products[t];
          sums[r * pairs + p] = s0 + bias;
        }
      }
    };
    const y = outs[0].data as BigInt64Array, z = outs[1].data as Float32Array;
    const width = z.length / Math.max(rows, 1), names = labels.map(BigInt);
    const pairScore = new Float32Array(pairs);
    const votes = new Int32Array(k), pair2 = new Float32Array(k * k), probs = new Float32Array(k);
    const q = new Float32Array(k * k), qp = new Float32Array(k);
    const out: number[] = []; // a row's scores, refilled per row
    // Scores a row writes before its transform: the pairs' (SVC without probabilities), else
    // one per class; two classes' one pair score becomes two columns as onnxruntime 1.30 writes
    // them: [−s, s] under NONE, else [1 − p, p], p = s or its logistic under LOGISTIC.
    const scored = svc && !proba ? pairs : k, second = svc && !proba && k <= 2;
    return {
      native: false,
      run: () => {
        for (let r = 0; r < rows; r++) {
          out.length = 0;
          let best = 0, top = 0;
          if (!svc) {
            for (let t = 0; t < k; t++) {
              let s = 0;
              for (let j = 0; j < c; j++) s = f(s + f(x[r * c + j] * coef[t * c + j]));
              out.push(f(s + rho[0]));
            }
            for (let t = 1; t < k; t++) if (out[t] > out[best]) best = t;
            top = out[best];
          } else {
            if (r % chunk === 0) scoreChunk(r, Math.min(rows, r + chunk));
            const at = (r % chunk) * pairs;
            votes.fill(0);
            for (let i = 0, p = 0; i < k - 1; i++) {
              for (let j = i + 1; j < k; j++, p++) {
                const sum = sums[at + p];
                pairScore[p] = sum;
                votes[sum > 0 ? i : j]++;
              }
            }
            for (let t = 1; t < k; t++) if (votes[t] > votes[best]) best = t;
            if (proba) {
              pair2.fill(0);
              for (let i = 0, p = 0; i < k - 1; i++) {
                for (let j = i + 1; j < k; j++, p++) {
                  const v = f(1 - logistic(f(f(pairScore[p] * probA[p]) + probB[p])));
                  const w = Math.min(Math.max(v, f(1e-7)), f(1 - 1e-7));
                  pair2[i * k + j] = w;
                  pair2[j * k + i] = f(1 - w);
                }
              }
              multiclassProbability(k, pair2, probs, q, qp);
              for (let t = 0; t < k; t++) out.push(probs[t]);
            } else for (let p = 0; p < pairs; p++) out.push(pairScore[p]);
          }
          // The label: two classes without probabilities by onnxruntime's ChooseClass.
          let label = best;
          if (k === 2 && !proba && !svc) {
            if ((positive && top >= 0.5) || (!positive && top > 0)) label = 1;
          }
          y[r] = names[label];
          if (scored > 1) transform(out, post);
          else if (second) {
            const s = out[0], p = post === "LOGISTIC" ? logistic(s) : s;
            if (post === "NONE") out.splice(0, 1, -s, s);
            else out.splice(0, 1, f(1 - p), p);
          }
          for (let t = 0; t < width; t++) z[r * width + t] = out[t];
        }
      },
    };
  },
};

/** The ai.onnx.ml support vector machines. */
export const ML_SVM_OPS: Record<string, OpDef> = {
  SVMRegressor: SVM_REGRESSOR,
  SVMClassifier: SVM_CLASSIFIER,
};
