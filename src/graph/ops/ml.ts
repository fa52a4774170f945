/**
 * ONNX-ML's elementwise and linear ops (domain ai.onnx.ml), the steps
 * scikit-learn pipelines convert to, computed as ONNX Runtime's CPU kernels
 * compute them (float32): Scaler ((x − offset)·scale per feature or for
 * all), Normalizer (each row by its MAX, L1 or L2 norm), Binarizer (1 above
 * the threshold; a NaN refused, as onnxruntime refuses it), Imputer (the
 * replaced value, 0 unless given — NaN as scikit-learn's converters give
 * it —, takes the feature's imputed value), ArrayFeatureExtractor (elements of the last axis
 * by index), LinearRegressor (X·coefficientsᵀ + intercepts) and
 * LinearClassifier (the same scores, the top class's int64 label, the post
 * transform; one score for two labels as onnxruntime 1.30 gives it: p = s,
 * or its logistic under LOGISTIC, as [1 − p, p]). Where the Jit runs, the
 * linear models' scores are one GEMM each (as onnxruntime's), the
 * classifier's NONE and SOFTMAX scores and Scaler the Jit's too. The tree
 * ensembles are ml_trees.ts and ml_tree_ensemble.ts (their walks
 * ml_tree_walk.ts), the encoders ml_encoders.ts, the support vector
 * machines ml_svm.ts.
 */
import type { Node } from "../ir.ts";
import {
  type Buf,
  type Env,
  expectType,
  fail,
  meta,
  nativeJit,
  need,
  type OpDef,
  sizeOf,
  STRING_LABELS,
} from "./op.ts";
import {
  float32Reader,
  logistic,
  ML_TREE_OPS,
  type Transform,
  transform,
  TRANSFORMS,
} from "./ml_trees.ts";
import type { Jit } from "../../runtime/jit.ts";
import { TREE_ENSEMBLE } from "./ml_tree_ensemble.ts";
import { ML_ENCODER_OPS } from "./ml_encoders.ts";
import { ML_SVM_OPS } from "./ml_svm.ts";

const f = Math.fround;

const NUMBERS = ["float32", "float64", "int64", "int32"] as const;

/** Per-feature parameters: one for every feature, or one for all (`name` of `count` or 1). */
function perFeature(n: Node, name: string, v: number[] | null, count: number, def: number) {
  const p = v ?? [def];
  if (p.length !== 1 && p.length !== count) {
    fail(n, `${name} has ${p.length} values, X has ${count} features (or give one)`);
  }
  return (j: number) => f(p.length === 1 ? p[0] : p[j]);
}

/** Most rows of one GEMM (jit.gemm's largest m). */
const MAX_GEMM_ROWS = 1 << 20;

/**
 * The Jit for X's rows where native code runs and a call takes them all
 * (else null: the TypeScript loops).
 */
function rowsJit(env: Env, x: Buf, c: number): Jit | null {
  const rows = c === 0 ? 0 : sizeOf(x.dims) / c;
  return rows >= 1 && rows <= MAX_GEMM_ROWS && c >= 1 && c <= MAX_GEMM_ROWS ? nativeJit(env) : null;
}

/** The last axis's length (features per row). */
function featuresOf(dims: readonly number[]): number {
  return dims.length === 0 ? 1 : dims[dims.length - 1];
}

const SCALER: OpDef = {
  attributes: ["offset", "scale"],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, ...NUMBERS);
    const c = featuresOf(x.dims);
    perFeature(n, "offset", n.attrs.floats("offset"), c, 0);
    perFeature(n, "scale", n.attrs.floats("scale"), c, 1);
    return [meta("float32", x.dims)];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!, c = featuresOf(x.dims), read = float32Reader(x);
    const y = outs[0].data as Float32Array;
    const offset = perFeature(n, "offset", n.attrs.floats("offset"), c, 0);
    const scale = perFeature(n, "scale", n.attrs.floats("scale"), c, 1);
    const o = Float32Array.from({ length: c }, (_, j) => offset(j));
    const s = Float32Array.from({ length: c }, (_, j) => scale(j));
    const jit = rowsJit(env, x, c);
    if (jit) {
      // (x − offset)·scale by two broadcast calls: the same two roundings.
      // (Shapes made once: a run allocates nothing.)
      const dims = [y.length / c, c], row = [c];
      const call = () => {
        jit.binary("sub", read(), dims, o, row, y);
        jit.binary("mul", y, dims, s, row, y);
      };
      return { native: x.type === "float32", run: call };
    }
    return {
      native: false,
      run: () => {
        const xd = read();
        for (let i = 0; i < y.length; i++) y[i] = f(f(xd[i] - o[i % c]) * s[i % c]);
      },
    };
  },
};

const NORMALIZER: OpDef = {
  attributes: ["norm"],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, ...NUMBERS);
    if (x.dims.length > 2) fail(n, `X must be [N, C] or [C], got rank ${x.dims.length}`);
    const norm = n.attrs.string("norm", "MAX");
    if (!["MAX", "L1", "L2"].includes(norm)) fail(n, `norm '${norm}' is not MAX, L1 or L2`);
    return [meta("float32", x.dims)];
  },
  build(n, ins, outs) {
    const x = ins[0]!, c = featuresOf(x.dims), read = float32Reader(x);
    const y = outs[0].data as Float32Array;
    const norm = n.attrs.string("norm", "MAX");
    return {
      native: false,
      run: () => {
        const xd = read();
        for (let r = 0; r < y.length; r += c) {
          let d = 0;
          for (let j = 0; j < c; j++) {
            const v = xd[r + j];
            if (norm === "MAX") d = j === 0 || v > d ? v : d;
            else if (norm === "L1") d = f(d + Math.abs(v));
            else d = f(d + f(v * v));
          }
          if (norm === "L2") d = f(Math.sqrt(d));
          for (let j = 0; j < c; j++) y[r + j] = f(xd[r + j] / d);
        }
      },
    };
  },
};

const BINARIZER: OpDef = {
  attributes: ["threshold"],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, "float32", "float64", "int64", "int32");
    return [meta(x.type, x.dims)];
  },
  build(n, ins, outs) {
    const x = ins[0]!.data as Float32Array, y = outs[0].data as Float32Array;
    const big = y instanceof BigInt64Array, t = n.attrs.float("threshold", 0);
    const one = (big ? 1n : 1) as number, zero = (big ? 0n : 0) as number;
    return {
      native: false,
      run: () => {
        for (let i = 0; i < y.length; i++) {
          const v = Number(x[i]);
          if (Number.isNaN(v)) {
            throw new RangeError(`${n.op} node '${n.name}': input element ${i} is NaN`);
          }
          y[i] = v > t ? one : zero;
        }
      },
    };
  },
};

const IMPUTER: OpDef = {
  attributes: [
    "imputed_value_floats",
    "imputed_value_int64s",
    "replaced_value_float",
    "replaced_value_int64",
  ],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, "float32", "int64");
    const c = featuresOf(x.dims);
    const values = x.type === "float32"
      ? n.attrs.floats("imputed_value_floats")
      : n.attrs.ints("imputed_value_int64s");
    if (!values) fail(n, `imputed values for ${x.type} are required`);
    perFeature(n, "the imputed values", values, c, 0);
    return [meta(x.type, x.dims)];
  },
  build(n, ins, outs) {
    const x = ins[0]!, c = featuresOf(x.dims), y = outs[0];
    if (x.type === "float32") {
      const xd = x.data as Float32Array, yd = y.data as Float32Array;
      const value = perFeature(n, "imputed", n.attrs.floats("imputed_value_floats"), c, 0);
      const replaced = n.attrs.float("replaced_value_float", 0);
      const by = Float32Array.from({ length: c }, (_, j) => value(j));
      return {
        native: false,
        run: () => {
          for (let i = 0; i < yd.length; i++) {
            const v = xd[i];
            yd[i] = (Number.isNaN(replaced) ? Number.isNaN(v) : v === replaced) ? by[i % c] : v;
          }
        },
      };
    }
    const xd = x.data as BigInt64Array, yd = y.data as BigInt64Array;
    const values = n.attrs.ints("imputed_value_int64s")!;
    const by = Array.from(
      { length: c },
      (_, j) => BigInt(values.length === 1 ? values[0] : values[j]),
    );
    const replaced = BigInt(n.attrs.int("replaced_value_int64", 0));
    return {
      native: false,
      run: () => {
        for (let i = 0; i < yd.length; i++) yd[i] = xd[i] === replaced ? by[i % c] : xd[i];
      },
    };
  },
};

const ARRAY_FEATURE_EXTRACTOR: OpDef = {
  attributes: [],
  infer(n, ins) {
    const [x, idx] = need(n, ins, 2);
    expectType(n, x, 0, "float32", "float64", "int64", "int32");
    expectType(n, idx, 1, "int64");
    if (x.dims.length === 0) fail(n, "X must have rank ≥ 1");
    const count = sizeOf(idx.dims);
    const dims = x.dims.length === 1 ? [1, count] : [...x.dims.slice(0, -1), count];
    return [meta(x.type, dims)];
  },
  build(n, ins, outs) {
    const x = ins[0]!, idx = ins[1]!.data as BigInt64Array, y = outs[0];
    const c = featuresOf(x.dims), count = idx.length, rows = sizeOf(x.dims) / c;
    const xd = x.data as Float32Array, yd = y.data as Float32Array;
    return {
      native: false,
      run: () => {
        for (let k = 0; k < count; k++) {
          const j = Number(idx[k]);
          if (!(j >= 0 && j < c)) {
            throw new RangeError(`${n.op} node '${n.name}': index ${j} is outside 0..${c - 1}`);
          }
        }
        for (let r = 0; r < rows; r++) {
          for (let k = 0; k < count; k++) yd[r * count + k] = xd[r * c + Number(idx[k])];
        }
      },
    };
  },
};

const LINEAR_REGRESSOR: OpDef = {
  attributes: ["coefficients", "intercepts", "post_transform", "targets"],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, ...NUMBERS);
    if (x.dims.length > 2) fail(n, `X must be [N, C] or [C], got rank ${x.dims.length}`);
    const c = featuresOf(x.dims), targets = n.attrs.int("targets", 1);
    const coef = n.attrs.floats("coefficients");
    if (!coef || coef.length !== targets * c) {
      fail(n, `coefficients must hold ${targets}×${c} values, got ${coef?.length ?? 0}`);
    }
    const b = n.attrs.floats("intercepts");
    if (b && b.length !== targets) fail(n, `intercepts must hold ${targets} values`);
    const post = n.attrs.string("post_transform", "NONE");
    if (post !== "NONE") fail(n, `post_transform '${post}' is not supported (NONE is)`);
    const rows = x.dims.length === 2 ? x.dims[0] : 1;
    return [meta("float32", [rows, targets])];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!, c = featuresOf(x.dims), read = float32Reader(x);
    const y = outs[0].data as Float32Array;
    const targets = n.attrs.int("targets", 1);
    const coef = Float32Array.from(n.attrs.floats("coefficients")!);
    const b = Float32Array.from(n.attrs.floats("intercepts") ?? new Array(targets).fill(0));
    const jit = rowsJit(env, x, c);
    if (jit) {
      // X·coefficientsᵀ + intercepts as onnxruntime computes it: one GEMM.
      const options = { m: y.length / targets, n: targets, k: c, transB: true, bias: b };
      const call = () => jit.gemm(read(), coef, y, options);
      return { native: x.type === "float32", run: call };
    }
    return {
      native: false,
      run: () => {
        const xd = read();
        for (let r = 0; r < y.length / targets; r++) {
          for (let t = 0; t < targets; t++) {
            let s = 0;
            for (let j = 0; j < c; j++) s = f(s + f(xd[r * c + j] * coef[t * c + j]));
            y[r * targets + t] = f(s + b[t]);
          }
        }
      },
    };
  },
};

const LINEAR_CLASSIFIER: OpDef = {
  attributes: [
    "classlabels_ints",
    "classlabels_strings",
    "coefficients",
    "intercepts",
    "multi_class",
    "post_transform",
  ],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, ...NUMBERS);
    if (x.dims.length > 2 || x.dims.length === 0) {
      fail(n, `X must be [N, C] or [C], got rank ${x.dims.length}`);
    }
    if (n.attrs.strings("classlabels_strings")) {
      fail(n, STRING_LABELS);
    }
    const labels = n.attrs.ints("classlabels_ints");
    if (!labels) fail(n, "classlabels_ints is required");
    const c = featuresOf(x.dims), classes = n.attrs.floats("intercepts")?.length ?? 0;
    if (classes < 1) fail(n, "intercepts (one per class scored) are required");
    const coef = n.attrs.floats("coefficients");
    if (!coef || coef.length !== classes * c) {
      fail(n, `coefficients must hold ${classes}×${c} values, got ${coef?.length ?? 0}`);
    }
    if (classes > 1 && labels.length < classes) {
      fail(n, `${labels.length} class labels for ${classes} classes scored`);
    }
    const post = n.attrs.string("post_transform", "NONE") as Transform;
    if (!TRANSFORMS.includes(post)) fail(n, `post_transform '${post}' is not supported`);
    // One score: its two labels (onnxruntime 1.30 refuses any other count).
    if (classes === 1 && labels.length !== 2) {
      fail(n, `one score needs 2 class labels (negative, positive), got ${labels.length}`);
    }
    const second = classes === 1;
    if (second && post === "PROBIT") fail(n, "PROBIT of one score for two labels is not supported");
    const rows = x.dims.length === 2 ? x.dims[0] : 1;
    return [meta("int64", [rows]), meta("float32", [rows, second ? 2 : classes])];
  },
  build(n, ins, outs, env) {
    const x = ins[0]!, c = featuresOf(x.dims), read = float32Reader(x);
    const labels = n.attrs.ints("classlabels_ints")!, b = n.attrs.floats("intercepts")!;
    const classes = b.length, second = classes === 1;
    const coef = Float32Array.from(n.attrs.floats("coefficients")!), bias = Float32Array.from(b);
    const post = n.attrs.string("post_transform", "NONE") as Transform;
    const y = outs[0].data as BigInt64Array, z = outs[1].data as Float32Array;
    const width = second ? 2 : classes, rows = y.length, s: number[] = new Array(classes);
    const names = labels.map(BigInt);
    // The scores: one GEMM (as onnxruntime computes them) where the Jit runs, else per row here;
    // NONE and SOFTMAX of two or more classes then by the Jit too (softmax within a few ulp
    // of onnxruntime's float loop), the labels from the raw scores.
    const jit = rowsJit(env, x, c), scores = jit ? new Float32Array(rows * classes) : null;
    const whole = jit !== null && !second && (post === "NONE" || post === "SOFTMAX");
    const gemmOptions = { m: rows, n: classes, k: c, transB: true, bias };
    const softmaxOptions = { rows, cols: classes };
    return {
      native: false,
      run: () => {
        const xd = read();
        if (scores) {
          jit!.gemm(xd, coef, scores, gemmOptions);
        }
        if (whole) {
          for (let r = 0, at = 0; r < rows; r++, at += classes) {
            let best = 0;
            for (let t = 1; t < classes; t++) if (scores![at + t] > scores![at + best]) best = t;
            y[r] = names[best];
          }
          if (post === "SOFTMAX") jit!.softmax(scores!, z, softmaxOptions);
          else z.set(scores!);
          return;
        }
        for (let r = 0; r < rows; r++) {
          for (let t = 0; t < classes; t++) {
            if (scores) {
              s[t] = scores[r * classes + t];
              continue;
            }
            let v = 0;
            for (let j = 0; j < c; j++) v = f(v + f(xd[r * c + j] * coef[t * c + j]));
            s[t] = f(v + bias[t]);
          }
          if (second) {
            y[r] = names[s[0] > 0 ? 1 : 0];
            const p = post === "LOGISTIC" ? logistic(s[0]) : s[0];
            z[r * 2] = f(1 - p);
            z[r * 2 + 1] = p;
            continue;
          }
          let best = 0;
          for (let t = 1; t < classes; t++) if (s[t] > s[best]) best = t;
          y[r] = names[best];
          transform(s, post);
          for (let t = 0; t < width; t++) z[r * width + t] = s[t];
        }
      },
    };
  },
};

/** The ai.onnx.ml ops we run, by name. */
export const ML_OPS: Record<string, OpDef> = {
  ...ML_TREE_OPS,
  ...ML_ENCODER_OPS,
  TreeEnsemble: TREE_ENSEMBLE,
  Scaler: SCALER,
  Normalizer: NORMALIZER,
  Binarizer: BINARIZER,
  Imputer: IMPUTER,
  ArrayFeatureExtractor: ARRAY_FEATURE_EXTRACTOR,
  LinearRegressor: LINEAR_REGRESSOR,
  LinearClassifier: LINEAR_CLASSIFIER,
  ...ML_SVM_OPS,
};
