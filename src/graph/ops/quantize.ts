/**
 * The quantization ops, computed as ONNX Runtime computes them (float32
 * steps, rounding half to even, saturation): QuantizeLinear and
 * DequantizeLinear (per tensor or per axis), DynamicQuantizeLinear (uint8,
 * the range stretched to hold 0), and MatMulInteger (8-bit operands, int32
 * out) — exactly, on the float GEMM: with B − zb split into 16·high + low
 * (high in −16..15, low in 0..15), each product sum stays below 2²⁴ for K
 * up to 4096 per block, so the two float GEMMs are exact integers and
 * 16·high + low is the int32 result (wrapping as int32 does).
 */
import { type DType, integerRange, type TensorData } from "../../onnx/dtype.ts";
import type { Int8GemmOptions } from "../../kernels/qgemm/mod.ts";
import { int8Tiles } from "../../cpu.ts";
import type { Node } from "../ir.ts";
import { broadcastStrides } from "./binary.ts";
import { matmulShape } from "./matmul.ts";
import {
  axisOf,
  type Buf,
  type Env,
  expectType,
  fail,
  type Meta,
  meta,
  need,
  type OpDef,
  settledStep,
  sizeOf,
  type Step,
  stridesOf,
} from "./op.ts";

const f = Math.fround;

/** Round half to even (ONNX's rounding for quantization): Math.round takes halves up. */
export function roundEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}

/** The range of a quantized type (8 or 16 bits). */
function range(t: DType): [number, number] {
  return integerRange(t) as [number, number];
}

/** QuantizeLinear's output types by output_dtype (opset 21: 8 and 16 bits here). */
const QUANTIZED: Readonly<Record<number, DType>> = {
  2: "uint8",
  3: "int8",
  4: "uint16",
  5: "int16",
};

/**
 * Per-axis parameters: the index of x's element i's scale (0 for per
 * tensor); with block_size (opset 21) one scale per block of that many
 * elements along the axis, the scale shaped as x with that axis ⌈d/block⌉.
 */
function paramIndex(n: Node, x: Meta, scale: Meta): (i: number) => number {
  const count = sizeOf(scale.dims), block = n.attrs.int("block_size", 0);
  if (block > 0) {
    const r = x.dims.length, axis = axisOf(n, n.attrs.int("axis", 1), r);
    const blocks = Math.ceil(x.dims[axis] / block);
    if (
      scale.dims.length !== r ||
      scale.dims.some((d, i) => d !== (i === axis ? blocks : x.dims[i]))
    ) {
      fail(
        n,
        `with block_size ${block} the scale must be [${
          x.dims.map((d, i) => (i === axis ? blocks : d)).join(", ")
        }]`,
      );
    }
    const A = x.dims[axis], inner = sizeOf(x.dims.slice(axis + 1));
    return (i) => {
      const o = Math.floor(i / (A * inner)), a = Math.floor(i / inner) % A;
      return (o * blocks + Math.floor(a / block)) * inner + (i % inner);
    };
  }
  if (scale.dims.length === 0 || count === 1) return () => 0;
  if (scale.dims.length !== 1) fail(n, "scale must be a scalar or 1-D");
  const axis = axisOf(n, n.attrs.int("axis", 1), x.dims.length);
  if (x.dims[axis] !== count) fail(n, `scale has ${count} values, axis ${axis} is ${x.dims[axis]}`);
  const inner = sizeOf(x.dims.slice(axis + 1));
  return (i) => Math.floor(i / inner) % count;
}

function checkZeroPoint(n: Node, scale: Meta, zp: Meta | null): void {
  if (zp && sizeOf(zp.dims) !== sizeOf(scale.dims)) {
    fail(n, "the zero point must have the scale's shape");
  }
}

const QUANTIZE: OpDef = {
  attributes: ["axis", "saturate", "block_size", "output_dtype"],
  infer(n, ins) {
    const [x, scale, zp] = need(n, ins, 2, 3);
    expectType(n, x, 0, "float32");
    expectType(n, scale, 1, "float32");
    if (zp) expectType(n, zp, 2, "uint8", "int8", "uint16", "int16");
    checkZeroPoint(n, scale, zp);
    paramIndex(n, x, scale);
    // opset 21: the type without a zero point (8 and 16 bits here; not 4-bit outputs).
    const out = n.attrs.int("output_dtype", 0);
    if (out !== 0 && QUANTIZED[out] === undefined) {
      fail(n, `output_dtype ${out} is not supported (uint8, int8, uint16, int16 are)`);
    }
    if (zp && out && zp.type !== QUANTIZED[out]) fail(n, "output_dtype and the zero point differ");
    return [meta(zp ? zp.type : out ? QUANTIZED[out] : "uint8", x.dims)];
  },
  build(n, ins, outs, env) {
    const x = ins[0] as Buf, scale = ins[1] as Buf, zp = ins[2] ?? null, y = outs[0];
    const at = paramIndex(n, x, scale), [lo, hi] = range(y.type);
    const xd = x.data as Float32Array, sd = scale.data as Float32Array;
    const zd = zp ? (zp.data as Int8Array | Uint8Array) : null, yd = y.data as Int8Array;
    // Bytes, one scale and zero point, y at a multiple of 4 bytes: the native pass
    // (jit.quantizeLinear).
    const bytes = y.type === "uint8" || y.type === "int8";
    if (bytes && sizeOf(scale.dims) === 1 && yd.byteOffset % 4 === 0) {
      const options = { scale: 0, zeroPoint: 0 };
      return settledStep([scale, zp], () => {
        options.scale = sd[0];
        options.zeroPoint = zd ? zd[0] : 0;
      }, () => env.jit.quantizeLinear(xd, yd, options));
    }
    return {
      native: false,
      run: () => {
        for (let i = 0; i < xd.length; i++) {
          const p = at(i), q = roundEven(f(xd[i] / sd[p])) + (zd ? zd[p] : 0);
          // NaN: the type's least value, as ONNX Runtime gives it (kernels/qlinear quantizeNaN).
          yd[i] = Number.isNaN(q) ? lo : q < lo ? lo : q > hi ? hi : q;
        }
      },
    };
  },
};

const DEQUANTIZE: OpDef = {
  attributes: ["axis", "block_size", "output_dtype"],
  infer(n, ins) {
    const [x, scale, zp] = need(n, ins, 2, 3);
    expectType(n, x, 0, "uint8", "int8", "uint16", "int16", "int32");
    expectType(n, scale, 1, "float32");
    if (zp && zp.type !== x.type) fail(n, `the zero point is ${zp.type}, x is ${x.type}`);
    checkZeroPoint(n, scale, zp);
    paramIndex(n, x, scale);
    return [meta("float32", x.dims)];
  },
  build(n, ins, outs, env) {
    const x = ins[0] as Buf, scale = ins[1] as Buf, zp = ins[2] ?? null, y = outs[0];
    const at = paramIndex(n, x, scale);
    const xd = x.data as Int32Array, sd = scale.data as Float32Array;
    const zd = zp ? (zp.data as Int32Array) : null, yd = y.data as Float32Array;
    // Bytes with one scale and zero point at a multiple of 4 bytes: jit.dequantizeLinear.
    const bytes = x.data as Uint8Array | Int8Array;
    const eight = x.type === "uint8" || x.type === "int8";
    if (eight && sizeOf(scale.dims) === 1 && bytes.byteOffset % 4 === 0) {
      const options = { scale: 0, zeroPoint: 0 };
      return settledStep([scale, zp], () => {
        options.scale = sd[0];
        options.zeroPoint = zd ? zd[0] : 0;
      }, () => env.jit.dequantizeLinear(bytes, yd, options));
    }
    return {
      native: false,
      run: () => {
        for (let i = 0; i < xd.length; i++) {
          const p = at(i);
          yd[i] = f((xd[i] - (zd ? zd[p] : 0)) * sd[p]);
        }
      },
    };
  },
};

const DYNAMIC_QUANTIZE: OpDef = {
  attributes: [],
  infer(n, ins) {
    const [x] = need(n, ins, 1);
    expectType(n, x, 0, "float32");
    return [meta("uint8", x.dims), meta("float32", []), meta("uint8", [])];
  },
  build(_n, ins, outs, env) {
    const xd = ins[0]!.data as Float32Array, yd = outs[0].data as Uint8Array;
    const sOut = outs[1].data as Float32Array, zOut = outs[2].data as Uint8Array;
    const jit = env.jit;
    // One native call: the range, scale, zero point and bytes (the zero point and scale
    // then feed MatMulInteger's kernel in memory).
    return { native: true, run: () => jit.quantizeDynamic(xd, yd, sOut, zOut) };
  },
};

/** K per exact block: 255·16·K stays below 2²⁴. */
const EXACT_K = 4096;

export const MATMUL_INTEGER: OpDef = {
  attributes: [],
  infer(n, ins) {
    // Fused (njit): a fifth input, the float scale (1 or N values) the int32 sums are multiplied
    // by; a sixth, a float bias of N values added after it.
    const fused = n.domain === "njit";
    const [a, b, za, zb, scale, floatBias] = need(n, ins, 2, fused ? 6 : 4);
    expectType(n, a, 0, "uint8", "int8");
    expectType(n, b, 1, "uint8", "int8");
    if (a.dims.length < 2 || b.dims.length < 2) fail(n, "A and B must have rank ≥ 2");
    const s = matmulShape(n, a.dims, b.dims);
    if (za && sizeOf(za.dims) !== 1) {
      fail(n, "a_zero_point must be a scalar (per-row is not supported)");
    }
    if (zb && sizeOf(zb.dims) !== 1 && !(zb.dims.length === 1 && zb.dims[0] === s.n)) {
      fail(n, `b_zero_point must be a scalar or have N = ${s.n} values`);
    }
    if (fused) {
      if (!scale) fail(n, "the fused form needs its scale");
      expectType(n, scale, 4, "float32");
      const size = sizeOf(scale.dims);
      if (size !== 1 && !(size === s.n && scale.dims[scale.dims.length - 1] === s.n)) {
        fail(n, `the scale must have 1 or N = ${s.n} values`);
      }
      if (floatBias) {
        expectType(n, floatBias, 5, "float32");
        if (sizeOf(floatBias.dims) !== s.n) fail(n, `the bias must have N = ${s.n} values`);
      }
      return [meta("float32", s.dims)];
    }
    return [meta("int32", s.dims)];
  },
  build(n, ins, outs, env) {
    // The 8-bit kernel where it runs tiles; below them the exact float path is faster.
    const tiled = int8Tiles(env.jit.isa);
    const scale = ins[4] ?? null;
    const floatBias = (ins[5]?.data ?? null) as Float32Array | null;
    const act = n.fused?.activation ?? null;
    if (scale === null) {
      return tiled
        ? int8Step(n, ins as Buf[], outs[0], env, null)
        : floatStep(n, ins as Buf[], outs[0], env);
    }
    // Fused: int32 sums into a scratch (the float path, or asymmetric B's row terms), then scaled
    // here; on the kernel's tiles with symmetric B its store converts and scales.
    const y = outs[0],
      ints: Buf = {
        type: "int32",
        dims: y.dims,
        data: new Int32Array(sizeOf(y.dims)),
        constant: false,
      };
    const sd = scale.data as Float32Array,
      yd = y.data as Float32Array,
      id = ints.data as Int32Array;
    const perColumn = sizeOf(scale.dims) !== 1, cols = y.dims[y.dims.length - 1];
    const jit = env.jit;
    const [actOp, actParams] = act === null
      ? [null, undefined]
      : typeof act === "string"
      ? [act, undefined]
      : [act.op, act];
    // The sums scaled, the bias added (each rounded as Mul and Add round), the activation by
    // the unary family: the bits of the kernel's store.
    const rescale = () => {
      for (let i = 0; i < id.length; i++) {
        const v = f(f(id[i]) * sd[perColumn ? i % cols : 0]);
        yd[i] = floatBias ? f(v + floatBias[i % cols]) : v;
      }
      if (actOp !== null) jit.unary(actOp, yd, yd, actParams);
    };
    const epilogue = {
      ...(floatBias ? { floatBias } : {}),
      ...(act !== null ? { activation: act } : {}),
    };
    if (tiled) return int8Step(n, ins as Buf[], ints, env, { y: yd, scale: sd, rescale, epilogue });
    const step = floatStep(n, ins as Buf[], ints, env);
    return {
      native: false,
      run: () => {
        step.run();
        rescale();
      },
    };
  },
};

/**
 * MatMulInteger on the 8-bit GEMM (its tiles: AMX, VNNI, AVX2's words): A as uint8 (int8 A
 * shifted by 128, its zero point with it), B as int8 packed once (uint8 B
 * shifted by −128), then the zero points' terms: Σ(a − za)(b − zb) =
 * Σab − zb·Σa − za·Σb + k·za·zb, in int32 as ONNX Runtime wraps.
 */
function int8Step(
  n: Node,
  ins: Buf[],
  y: Buf,
  env: Env,
  fused: {
    y: Float32Array;
    scale: Float32Array;
    rescale: () => void;
    /** The float bias and activation as gemmInt8 options. */
    epilogue: Pick<Int8GemmOptions, "floatBias" | "activation">;
  } | null,
): Step {
  const [a, b] = ins, za = ins[2] ?? null, zb = ins[3] ?? null;
  const s = matmulShape(n, a.dims, b.dims), { m, k, n: nn } = s, jit = env.jit;
  const batches = sizeOf(s.batch), bat = stridesOf(s.batch);
  const aStr = broadcastStrides(s.a.slice(0, -2), s.batch).map((v) => v * m * k);
  const bStr = broadcastStrides(s.b.slice(0, -2), s.batch).map((v) => v * k * nn);
  const k4 = Math.ceil(k / 4) * 4, aSigned = a.type === "int8", bUnsigned = b.type === "uint8";
  const ad = a.data as Uint8Array, bd = b.data as Uint8Array, yd = y.data as Int32Array;
  // A's rows as the kernel reads them: its own bytes when they are uint8 rows of 4·j bytes.
  const direct = !aSigned && k === k4 && ad.byteOffset % 4 === 0;
  const aRows = direct ? null : new Uint8Array(m * k4);
  const packOne = (off: number) => {
    const t = new Int8Array(k * nn);
    for (let i = 0; i < t.length; i++) t[i] = bUnsigned ? bd[off + i] - 128 : bd[off + i];
    return jit.packInt8B(t, { k, n: nn });
  };
  const bBatches = sizeOf(s.b.slice(0, -2));
  const fixedB = b.constant && (zb === null || zb.constant);
  const packed = fixedB ? Array.from({ length: bBatches }, (_, q) => packOne(q * k * nn)) : null;
  const zbs = new Int32Array(nn), corr = new Int32Array(nn);
  // Each batch's views, made once (a run allocates nothing here).
  const yViews = Array.from(
    { length: batches },
    (_, t) => yd.subarray(t * m * nn, (t + 1) * m * nn),
  );
  const fusedViews = fused
    ? Array.from({ length: batches }, (_, t) => fused.y.subarray(t * m * nn, (t + 1) * m * nn))
    : [];
  const aViews = new Map<number, Uint8Array>();
  // All native when A is uint8 rows as they stand, B and its zero point are constants and
  // B is symmetric (no per-row term): A's zero point is read by the kernel from memory
  // (DynamicQuantizeLinear's output), so the step runs off the event loop with the rest.
  const zbFixed = zb === null || zb.constant;
  const zbAll = zbFixed
    ? Array.from({ length: nn }, (_, j) => {
      const z = zb ? Number((zb.data as TensorData)[sizeOf(zb.dims) === 1 ? 0 : j]) : 0;
      return z - (bUnsigned ? 128 : 0);
    })
    : null;
  if (!aSigned && aRows === null && packed !== null && zbAll?.every((z) => z === 0)) {
    const zaBytes = za === null
      ? null
      : (za.data as Uint8Array).byteOffset % 4 === 0
      ? za.data as Uint8Array
      : za.constant
      ? Uint8Array.of((za.data as Uint8Array)[0], 0, 0, 0) // the kernel needs it 4-aligned
      : null;
    if (za === null || zaBytes !== null) {
      const calls = Array.from({ length: batches }, (_, t) => {
        let aOff = 0, bOff = 0, rem = t;
        for (let d = 0; d < s.batch.length; d++) {
          const q = Math.floor(rem / bat[d]);
          rem -= q * bat[d];
          aOff += q * aStr[d];
          bOff += q * bStr[d];
        }
        return {
          a: ad.subarray(aOff, aOff + m * k),
          b: packed[bOff / (k * nn)],
          c: fused ? fusedViews[t] : yViews[t],
          options: {
            m,
            n: nn,
            k,
            lda: k4,
            ...(fused ? { scale: fused.scale, ...fused.epilogue } : {}),
            ...(zaBytes ? { aZeroPoint: zaBytes } : {}),
          },
        };
      });
      return {
        native: true,
        run: () => {
          for (const c of calls) jit.gemmInt8(c.a, c.b, c.c, c.options);
        },
      };
    }
  }
  return {
    native: false,
    run: () => {
      const zaV = (za ? Number((za.data as TensorData)[0]) : 0) + (aSigned ? 128 : 0);
      let anyZb = false;
      for (let j = 0; j < nn; j++) {
        const z = zb ? Number((zb.data as TensorData)[sizeOf(zb.dims) === 1 ? 0 : j]) : 0;
        zbs[j] = z - (bUnsigned ? 128 : 0);
        anyZb ||= zbs[j] !== 0;
      }
      for (let t = 0; t < batches; t++) {
        let aOff = 0, bOff = 0, rem = t;
        for (let d = 0; d < s.batch.length; d++) {
          const q = Math.floor(rem / bat[d]);
          rem -= q * bat[d];
          aOff += q * aStr[d];
          bOff += q * bStr[d];
        }
        let av: Uint8Array;
        if (aRows === null) {
          av = aViews.get(aOff) ?? aViews.set(aOff, ad.subarray(aOff, aOff + m * k)).get(aOff)!;
        } else {
          for (let i = 0; i < m; i++) {
            for (let j = 0; j < k; j++) {
              aRows[i * k4 + j] = aSigned ? ad[aOff + i * k + j] + 128 : ad[aOff + i * k + j];
            }
          }
          av = aRows;
        }
        const pb = packed ? packed[bOff / (k * nn)] : packOne(bOff);
        const c = yViews[t];
        // The per-column terms (−za·Σb + k·za·zb) added by the kernel; the per-row one
        // (−zb·Σa, asymmetric B only) here.
        const cs = pb.columnSums, kz = k * zaV;
        for (let j = 0; j < nn; j++) corr[j] = (kz * zbs[j] - zaV * cs[j]) | 0;
        if (fused && !anyZb) {
          // Straight to float: the store converts and scales.
          const out = fusedViews[t];
          jit.gemmInt8(av, pb, out, {
            m,
            n: nn,
            k,
            lda: k4,
            bias: corr,
            scale: fused.scale,
            ...fused.epilogue,
          });
          continue;
        }
        jit.gemmInt8(av, pb, c, { m, n: nn, k, lda: k4, bias: corr });
        if (!anyZb) continue;
        for (let i = 0; i < m; i++) {
          let ra = 0;
          for (let j = 0; j < k; j++) ra += av[i * k4 + j];
          const row = i * nn;
          for (let j = 0; j < nn; j++) c[row + j] = (c[row + j] - zbs[j] * ra) | 0;
        }
      }
      if (fused && anyZb) fused.rescale();
    },
  };
}

/** MatMulInteger on the float GEMM (no VNNI): exact through B's split (see the module). */
function floatStep(n: Node, ins: Buf[], y: Buf, env: Env): Step {
  const a = ins[0], b = ins[1], za = ins[2] ?? null, zb = ins[3] ?? null;
  const s = matmulShape(n, a.dims, b.dims), { m, k, n: nn } = s;
  const batches = sizeOf(s.batch), jit = env.jit;
  const aStr = broadcastStrides(s.a.slice(0, -2), s.batch).map((v) => v * m * k);
  const bStr = broadcastStrides(s.b.slice(0, -2), s.batch).map((v) => v * k * nn);
  const bat = stridesOf(s.batch);
  const ad = a.data as Uint8Array, bd = b.data as Uint8Array, yd = y.data as Int32Array;
  // The zero points are read when the step runs (one may be computed: DynamicQuantizeLinear's).
  const zbOf = (col: number) =>
    zb ? Number((zb.data as TensorData)[sizeOf(zb.dims) === 1 ? 0 : col]) : 0;
  const blocks = Math.ceil(k / EXACT_K);
  // B − zb in high and low parts, per batch of B, made once when B is a constant.
  const split = (off: number, k0: number, kc: number) => {
    const hi = new Float32Array(kc * nn), lo = new Float32Array(kc * nn);
    for (let r = 0; r < kc; r++) {
      for (let c = 0; c < nn; c++) {
        const v = bd[off + (k0 + r) * nn + c] - zbOf(c), l = v & 15;
        lo[r * nn + c] = l;
        hi[r * nn + c] = (v - l) / 16;
      }
    }
    return { hi, lo };
  };
  const bBatches = sizeOf(s.b.slice(0, -2));
  const constB = b.constant && (zb === null || zb.constant);
  const cached = constB
    ? Array.from({ length: bBatches }, (_, bb) =>
      Array.from({ length: blocks }, (_, q) => {
        const k0 = q * EXACT_K;
        return split(bb * k * nn, k0, Math.min(EXACT_K, k - k0));
      }))
    : null;
  const aF = new Float32Array(m * EXACT_K), hiC = new Float32Array(m * nn);
  const loC = new Float32Array(m * nn), acc = new Float64Array(m * nn);
  return {
    native: false,
    run: () => {
      const zaV = za ? Number((za.data as TensorData)[0]) : 0;
      for (let t = 0; t < batches; t++) {
        let aOff = 0, bOff = 0, rem = t;
        for (let d = 0; d < s.batch.length; d++) {
          const q = Math.floor(rem / bat[d]);
          rem -= q * bat[d];
          aOff += q * aStr[d];
          bOff += q * bStr[d];
        }
        acc.fill(0);
        for (let q = 0; q < blocks; q++) {
          const k0 = q * EXACT_K, kc = Math.min(EXACT_K, k - k0);
          for (let i = 0; i < m; i++) {
            for (let j = 0; j < kc; j++) aF[i * kc + j] = ad[aOff + i * k + k0 + j] - zaV;
          }
          const parts = cached ? cached[bOff / (k * nn)][q] : split(bOff, k0, kc);
          const av = aF.subarray(0, m * kc);
          jit.gemm(av, parts.hi, hiC, { m, n: nn, k: kc });
          jit.gemm(av, parts.lo, loC, { m, n: nn, k: kc });
          for (let e = 0; e < m * nn; e++) acc[e] += 16 * hiC[e] + loC[e];
        }
        const base = t * m * nn;
        for (let e = 0; e < m * nn; e++) yd[base + e] = acc[e] | 0;
      }
    },
  };
}

/** The quantization op definitions by ONNX name. */
export const QUANTIZE_OPS: Record<string, OpDef> = {
  QuantizeLinear: QUANTIZE,
  DequantizeLinear: DEQUANTIZE,
  DynamicQuantizeLinear: DYNAMIC_QUANTIZE,
  MatMulInteger: MATMUL_INTEGER,
};
