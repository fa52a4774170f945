/**
 * InferenceSession: ONNX Runtime's JS API over our graph layer. `create`
 * reads and optimizes the model and packs its weights; `run` validates the
 * feeds, picks the plan for their shapes (built on the first run of a
 * shape), runs it and returns fresh output tensors.
 */
import { Jit, useLargeMemory, workerAwake } from "../runtime/jit.ts";
import type { CopyOptions } from "../kernels/copy/mod.ts";
import { LargeMemory, readFileLarge } from "../native/large_memory.ts";
import { jitAvailable } from "../native/libc.ts";
import { keepFreedMemory, mallocPolicy } from "../native/malloc_policy.ts";
import type { JitStats } from "../runtime/stats.ts";
import { MALLOC_KEEP, MAX_PLANS } from "../runtime/policy.ts";
import { describe, typedArrayTag, viewBuffer, viewByteOffset, viewLength } from "../typed.ts";
import type { TensorData } from "../onnx/dtype.ts";
import { readModel } from "../onnx/model.ts";
import type { ExternalSource } from "../onnx/tensor_data.ts";
import { ModelError } from "../onnx/wire.ts";
import type { Graph, GraphValue, Node } from "./ir.ts";
import { copyData } from "./feed_copy.ts";
import { loadGraph } from "./load.ts";
import { noteInlineRun, noteOffLoopRun, runsInline } from "./run_place.ts";
import {
  type OptimizationLevel,
  type OptimizationReport,
  optimize,
  prepackWeights,
} from "./optimize.ts";
import type { Env } from "./ops/op.ts";
import { buildPlan, MAX_VALUE_ELEMENTS, type Plan, type PlanStep, VALUE_TYPES } from "./plan.ts";
import { defaultLogSeverity } from "./ort_env.ts";
import { Profiler } from "./profiler.ts";
import { Tensor, type TensorType } from "./tensor.ts";
import { staticShapes } from "./static_shapes.ts";
import { WeightCache } from "./weights.ts";

/** Options of {@link InferenceSession.create} (ONNX Runtime's names). */
export interface SessionOptions {
  /** Threads per op. Default: the Jit's (the CPUs available, or NJIT_NUM_THREADS). */
  intraOpNumThreads?: number;
  /** Accepted for compatibility; ops run one after another. */
  interOpNumThreads?: number;
  /** "disabled" | "basic" (fold constants, drop dead nodes) | "extended" | "all" (fusions). Default "all". */
  graphOptimizationLevel?: OptimizationLevel;
  /** Time every node; `endProfiling()` writes a Chrome trace. Default false. */
  enableProfiling?: boolean;
  /** Trace file name prefix. Default "njit_profile". */
  profileFilePrefix?: string;
  /** 0 verbose … 4 fatal; below 2, create logs what optimization did. Default: `env.logLevel`'s (2). */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /** Accepted for compatibility ("cpu" is the only provider). */
  executionProviders?: readonly unknown[];
  /**
   * Tier-2 warm-up (ours): the first `tuningRuns` runs of each set of input
   * shapes run on the calling thread with every kernel tuning on their calls
   * (`Jit.warmup`), ending early once all are tuned; later runs use the
   * tuned kernels. Results are the same bits throughout. Default 0 (runs
   * made with `runSync` still tune hot kernels under the Jit's budget).
   */
  tuningRuns?: number;
  /** A tuning cache file (see `JitOptions.tuneCache`). Default: NJIT_TUNE_CACHE. */
  tuneCache?: string;
  /**
   * Where generated kernels are kept between processes (see
   * `JitOptions.codeCache`; false: none). Default: NJIT_CODE_CACHE, else
   * `~/.cache/njit/kernels`.
   */
  codeCache?: string | false;
  /** Tier 2's budget (see `JitOptions.tuneBudget`; 0 turns tuning off). Default 0.1. */
  tuneBudget?: number;
  /**
   * `run` and `runSync` replay the Jit calls they recorded (`Jit.replay` off
   * the event loop, `Jit.replaySync` on the calling thread) while nothing of
   * them changed. Default true; false makes every call anew on every run (off
   * the loop recorded each time; for comparison).
   */
  replay?: boolean;
  /**
   * `run` keeps a plan measured to run in under 1 ms on the calling thread
   * (the hop off the event loop would cost more than the wait; see
   * policy.ts). Default true; false sends every run off the loop.
   */
  shortRunsInline?: boolean;
  /**
   * Sizes of symbolic input dims, by name, for create to plan with (ONNX
   * Runtime's option): with `{ batch: 1 }` create takes every input dim
   * named "batch" as 1 and knows the shapes that follow (it packs a batch-1
   * Linear's weights for one row: graph/weights.ts). As in ONNX Runtime
   * 1.30, feeds of other sizes still run (the weights' layout serves every
   * size) and `inputMetadata` keeps the names.
   */
  freeDimensionOverrides?: Readonly<Record<string, number>>;
}

/** Feeds: input name → Tensor. */
export type FeedsType = Record<string, Tensor>;
/** Results: output name → Tensor. */
export type ReturnType = Record<string, Tensor>;
/**
 * What `run` returns (as ONNX Runtime's `fetches`): output names, or output
 * name → a Tensor of the output's type and dims to write it into (reused run
 * after run: nothing allocated), or null for a new one.
 */
export type FetchesType = readonly string[] | Readonly<Record<string, Tensor | null>>;
/** ONNX Runtime's per-run options: accepted, and not used (logging and tags are the session's). */
export interface RunOptions {
  /** Accepted for compatibility. */
  logSeverityLevel?: number;
  /** Accepted for compatibility. */
  logVerbosityLevel?: number;
  /** Accepted for compatibility. */
  terminate?: boolean;
  /** Accepted for compatibility. */
  tag?: string;
}

/** Float feeds of at least this many elements are copied in by every thread (see #splitCopies). */
const SPLIT_COPY_FLOATS = 1 << 16;

/**
 * A tensor given to receive output `name`: a Tensor of the output's type,
 * dims and length, its data a real typed array of that kind (read through
 * the intrinsic getters), or an error naming the output and what differs.
 */
function checkInto(name: string, t: unknown, o: Plan["outputs"][number], half: boolean): void {
  const where = `InferenceSession.run: fetches['${name}']`;
  if (!(t instanceof Tensor)) throw new TypeError(`${where} must be a Tensor or null`);
  const type = half ? "float16" : o.type;
  if (t.type !== type) throw new TypeError(`${where} is ${t.type}, the output is ${type}`);
  const d = t.dims;
  if (d.length !== o.dims.length || d.some((v, i) => v !== o.dims[i])) {
    throw new RangeError(
      `${where} has dims [${d.join(", ")}], the output has [${o.dims.join(", ")}]`,
    );
  }
  const have = TAG_TYPES[typedArrayTag(t.data) ?? ""] ?? null;
  if (have === null || (have !== type && !(type === "bool" && have === "uint8"))) {
    throw new TypeError(`${where}.data is not a ${type} array`);
  }
  if (viewLength(t.data as ArrayBufferView) !== viewLength(o.data as ArrayBufferView)) {
    throw new RangeError(
      `${where}.data holds ${viewLength(t.data as ArrayBufferView)} elements, the output ${
        viewLength(o.data as ArrayBufferView)
      }`,
    );
  }
}

/** A run's outputs: their names, and the tensors given to write them into (by name). */
interface Fetch {
  names: readonly string[];
  into: Readonly<Record<string, Tensor | null>> | null;
}

const LEVELS = ["disabled", "basic", "extended", "all"];
/** Tensor types by typed array kind (bool tensors are Uint8Arrays too). */
const TAG_TYPES: Record<string, TensorType> = {
  Float32Array: "float32",
  // float16 tensors: a Float16Array, or the Uint16Array of bits ONNX Runtime also takes
  // (uint16's array: see the feed check).
  Float16Array: "float16",
  Uint16Array: "uint16",
  Float64Array: "float64",
  BigInt64Array: "int64",
  Int32Array: "int32",
  Int16Array: "int16",
  Int8Array: "int8",
  BigUint64Array: "uint64",
  Uint32Array: "uint32",
  Uint8Array: "uint8",
};

/**
 * An input's or output's name, element type and shape, as ONNX Runtime's
 * `session.inputMetadata` gives them (`InferenceSession.ValueMetadata`):
 * a symbolic dimension by its name, one the model leaves unknown as "",
 * no shape at all as [].
 */
export type ValueMetadata = TensorMetadata | NonTensorMetadata;

/** A tensor input or output. */
export interface TensorMetadata {
  /** The input's or output's name. */
  readonly name: string;
  /** A tensor. */
  readonly isTensor: true;
  /** Its element type (float16 where the model declares it). */
  readonly type: TensorType;
  /** Its dimensions: sizes, or the names of symbolic ones ("" when unknown). */
  readonly shape: readonly (number | string)[];
}

/**
 * An output that is no tensor: ZipMap's sequence of maps, which ends scikit-learn's converted
 * classifiers. Listed, as onnxruntime-node lists it; fetching it is refused, as there.
 */
export interface NonTensorMetadata {
  /** The output's name. */
  readonly name: string;
  /** Not a tensor. */
  readonly isTensor: false;
}

function metadataOf(v: GraphValue): TensorMetadata {
  return Object.freeze({
    name: v.name,
    isTensor: true as const,
    type: v.half ? "float16" : v.labels || v.vocabulary ? "string" : v.type,
    shape: Object.freeze((v.dims ?? []).map((d) => d ?? "")),
  });
}

/**
 * The model bytes and options of `create`'s arguments, as ONNX Runtime
 * reads them: a path or a Uint8Array and options; or an ArrayBuffer (or
 * SharedArrayBuffer), then optionally a byte offset and length into it,
 * then options.
 */
function createArguments(
  model: unknown,
  a1: unknown,
  a2: unknown,
  a3: unknown,
): { model: string | Uint8Array; options: SessionOptions } {
  const W = "InferenceSession.create";
  const optionsAt = (o: unknown): SessionOptions => {
    if (o === undefined) return {};
    if (o === null || typeof o !== "object") {
      throw new TypeError(`${W}: options must be an object, got ${o === null ? "null" : typeof o}`);
    }
    return o as SessionOptions;
  };
  if (typeof model === "string" || model instanceof Uint8Array) {
    return { model, options: optionsAt(a1) };
  }
  const shared = typeof SharedArrayBuffer !== "undefined" && model instanceof SharedArrayBuffer;
  if (!(model instanceof ArrayBuffer) && !shared) {
    throw new TypeError(
      `${W}: the model must be a path, a Uint8Array or an ArrayBuffer, got ${describe(model)}`,
    );
  }
  const buffer = model as ArrayBufferLike, size = buffer.byteLength;
  if (typeof a1 !== "number") return { model: new Uint8Array(buffer), options: optionsAt(a1) };
  if (!Number.isSafeInteger(a1) || a1 < 0 || a1 >= size) {
    throw new RangeError(`${W}: byteOffset must be an integer in [0, ${size}), got ${a1}`);
  }
  let length = size - a1, options = a2;
  if (typeof a2 === "number") {
    if (!Number.isSafeInteger(a2) || a2 <= 0 || a1 + a2 > size) {
      throw new RangeError(
        `${W}: byteLength must be an integer in (0, ${
          size - a1
        }] (from byteOffset ${a1}), got ${a2}`,
      );
    }
    length = a2;
    options = a3;
  } else if (a2 !== undefined) {
    throw new TypeError(`${W}: byteLength must be a number, got ${describe(a2)}`);
  }
  return { model: new Uint8Array(buffer, a1, length), options: optionsAt(options) };
}

/** The options' values (createArguments made sure they are an object). */
function checkOptions(o: SessionOptions): void {
  const t = o.intraOpNumThreads;
  if (
    t !== undefined && t !== 0 &&
    (typeof t !== "number" || !Number.isInteger(t) || t < 1 || t > 113)
  ) {
    throw new RangeError(
      `InferenceSession.create: intraOpNumThreads must be an integer in 1..113, got ${String(t)}`,
    );
  }
  const r = o.tuningRuns;
  if (r !== undefined && (typeof r !== "number" || !Number.isInteger(r) || r < 0)) {
    throw new RangeError(
      `InferenceSession.create: tuningRuns must be a non-negative integer, got ${String(r)}`,
    );
  }
  if (o.tuneCache !== undefined && (typeof o.tuneCache !== "string" || o.tuneCache === "")) {
    throw new TypeError(
      `InferenceSession.create: tuneCache must be a file path, got ${String(o.tuneCache)}`,
    );
  }
  const cc = o.codeCache;
  if (cc !== undefined && cc !== false && (typeof cc !== "string" || cc === "")) {
    throw new TypeError(
      `InferenceSession.create: codeCache must be a directory path or false, got ${String(cc)}`,
    );
  }
  for (const name of ["replay", "shortRunsInline"] as const) {
    if (o[name] !== undefined && typeof o[name] !== "boolean") {
      throw new TypeError(
        `InferenceSession.create: ${name} must be a boolean, got ${String(o[name])}`,
      );
    }
  }
  const f = o.freeDimensionOverrides;
  if (f !== undefined) {
    if (f === null || typeof f !== "object" || Array.isArray(f)) {
      throw new TypeError(
        `InferenceSession.create: freeDimensionOverrides must be an object of dim name → size, got ${
          describe(f)
        }`,
      );
    }
    for (const [name, size] of Object.entries(f)) {
      if (typeof size !== "number" || !Number.isInteger(size) || size < 0 || size > 2 ** 31 - 1) {
        throw new RangeError(
          `InferenceSession.create: freeDimensionOverrides['${name}'] must be an integer in 0..2147483647, got ${
            describe(size)
          }`,
        );
      }
    }
  }
  const l = o.graphOptimizationLevel;
  if (l !== undefined && !LEVELS.includes(l)) {
    throw new RangeError(
      `InferenceSession.create: graphOptimizationLevel must be one of ${LEVELS.join(", ")}, got ${
        String(l)
      }`,
    );
  }
}

/**
 * A loaded model, run with ONNX Runtime's API: change the import from
 * `onnxruntime-node` to `@njit/core` and the same code runs.
 *
 * @example
 * ```ts ignore
 * import { InferenceSession, Tensor } from "@njit/core";
 * const session = await InferenceSession.create("model.onnx", { intraOpNumThreads: 2 });
 * const x = new Tensor("float32", new Float32Array(3 * 224 * 224), [1, 3, 224, 224]);
 * const out = await session.run({ [session.inputNames[0]]: x });
 * console.log(out[session.outputNames[0]].dims);
 * ```
 */
export class InferenceSession {
  /** The graph's input names (initializers excluded). */
  readonly inputNames: readonly string[];
  /** The graph's output names. */
  readonly outputNames: readonly string[];
  /** Each input's name, type and shape as the model declares them (ONNX Runtime's). */
  readonly inputMetadata: readonly TensorMetadata[];
  /** Each output's name, type and shape as the model declares them (ONNX Runtime's). */
  readonly outputMetadata: readonly ValueMetadata[];
  /** What create's optimization did. */
  readonly optimization: OptimizationReport;
  readonly #graph: Graph;
  readonly #jit: Jit;
  readonly #env: Env;
  readonly #plans = new Map<string, Plan>();
  #last: Plan | null = null;
  #lastDims: number[][] = [];
  /** Inputs whose values key the plans (indices into the graph's inputs), once one needed them. */
  #keyed: number[] | null = null;
  /** Their values in the last plan's key. */
  #lastKnown: TensorData[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  /** The plan a `run` has off the event loop now, if any. */
  #inFlight: Plan | null = null;
  /** runSync's spare plans, by the plan in flight they stand in for. */
  readonly #spares = new WeakMap<Plan, Plan>();
  readonly #symbols = new Map<string, number>();
  readonly #inputSet: ReadonlySet<string>;
  #released = false;
  readonly #profiler: Profiler | null;
  readonly #tuningRuns: number;
  readonly #replay: boolean;
  readonly #shortRunsInline: boolean;
  readonly #memory: LargeMemory | null;
  /** Outputs that are no tensor (never computed: see Graph.nonTensorOutputs). */
  readonly #nonTensor: ReadonlySet<string>;
  /** Each tensor output's index among the plan's outputs. */
  readonly #outputIndex = new Map<string, number>();

  private constructor(graph: Graph, options: SessionOptions, memory: LargeMemory | null) {
    const threads = options.intraOpNumThreads || undefined;
    this.#jit = new Jit({
      ...(threads === undefined ? {} : { threads }),
      ...(options.tuneCache === undefined ? {} : { tuneCache: options.tuneCache }),
      ...(options.codeCache === undefined ? {} : { codeCache: options.codeCache }),
      ...(options.tuneBudget === undefined ? {} : { tuneBudget: options.tuneBudget }),
    });
    if (memory !== null) useLargeMemory(this.#jit, memory);
    this.#memory = memory;
    this.#tuningRuns = options.tuningRuns ?? 0;
    this.#replay = options.replay ?? true;
    this.#shortRunsInline = options.shortRunsInline ?? true;
    this.#env = { jit: this.#jit, weights: new WeightCache(this.#jit), memory };
    this.#graph = graph;
    try {
      this.optimization = optimize(graph, options.graphOptimizationLevel ?? "all", this.#env);
      const shapes = staticShapes(graph, this.#env, options.freeDimensionOverrides ?? {});
      prepackWeights(graph, this.#env, shapes);
    } catch (e) {
      this.#jit.close(); // a model folding fails on frees its code and workers now
      throw e;
    }
    this.inputNames = Object.freeze(graph.inputs.map((v) => v.name));
    this.#inputSet = new Set(this.inputNames);
    // Every declared output in its place, the ones that are no tensor among them.
    const outputs: ValueMetadata[] = graph.outputs.map(metadataOf);
    for (const { name, at } of graph.nonTensorOutputs ?? []) {
      outputs.splice(at, 0, Object.freeze({ name, isTensor: false as const }));
    }
    this.#nonTensor = new Set((graph.nonTensorOutputs ?? []).map((o) => o.name));
    graph.outputs.forEach((v, i) => this.#outputIndex.set(v.name, i));
    this.outputNames = Object.freeze(outputs.map((v) => v.name));
    this.inputMetadata = Object.freeze(graph.inputs.map(metadataOf));
    this.outputMetadata = Object.freeze(outputs);
    this.#profiler = options.enableProfiling
      ? new Profiler(options.profileFilePrefix ?? "njit_profile")
      : null;
    if ((options.logSeverityLevel ?? defaultLogSeverity()) < 2) {
      console.error(
        `njit: session: ${graph.nodes.length} nodes after optimization`,
        this.optimization,
      );
      const m = mallocPolicy();
      console.error(
        m.set
          ? `njit: malloc: blocks up to ${m.mmapBytes >> 20} MB from the heap, ` +
            `up to ${m.trimBytes >> 20} MB freed kept (NJIT_MALLOC=system: glibc's own policy)`
          : "njit: malloc: glibc's own policy",
      );
    }
  }

  /** Loads a model from a path or its bytes. Errors (file, format, unsupported ops) reject here. */
  /** Loads a model from a path, its bytes, or an ArrayBuffer holding them. */
  static create(
    model: string | Uint8Array | ArrayBufferLike,
    options?: SessionOptions,
  ): Promise<InferenceSession>;
  /** Loads a model from `byteLength` bytes (default: the rest) of `buffer` from `byteOffset`. */
  static create(
    buffer: ArrayBufferLike,
    byteOffset: number,
    byteLength?: number,
    options?: SessionOptions,
  ): Promise<InferenceSession>;
  static create(
    model: string | Uint8Array | ArrayBufferLike,
    a1?: SessionOptions | number,
    a2?: number,
    a3?: SessionOptions,
  ): Promise<InferenceSession> {
    try {
      return Promise.resolve(InferenceSession.#load(createArguments(model, a1, a2, a3)));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** {@link create} without a promise. */
  static createSync(
    model: string | Uint8Array | ArrayBufferLike,
    options?: SessionOptions,
  ): InferenceSession;
  /** {@link create} of a part of an ArrayBuffer without a promise. */
  static createSync(
    buffer: ArrayBufferLike,
    byteOffset: number,
    byteLength?: number,
    options?: SessionOptions,
  ): InferenceSession;
  static createSync(
    model: string | Uint8Array | ArrayBufferLike,
    a1?: SessionOptions | number,
    a2?: number,
    a3?: SessionOptions,
  ): InferenceSession {
    return InferenceSession.#load(createArguments(model, a1, a2, a3));
  }

  /** A session of the model bytes or path and options createArguments read. */
  static #load(args: { model: string | Uint8Array; options: SessionOptions }): InferenceSession {
    const options = args.options;
    checkOptions(options);
    let bytes: Uint8Array, ext: ExternalSource | null = null;
    if (typeof args.model === "string") {
      const path = args.model;
      try {
        bytes = readFileLarge(path);
        const real = Deno.realPathSync(path);
        ext = {
          dir: real.slice(0, real.lastIndexOf("/")) || "/",
          files: new Map(),
          read: readFileLarge,
          adopt: true, // these bytes are the session's alone: weights viewed, not copied
        };
      } catch (e) {
        throw new ModelError(`ONNX: cannot read '${path}': ${(e as Error).message}`);
      }
    } else bytes = args.model;
    // The session's large memory (weights as read and packed, arenas: native/large_memory.ts),
    // given back to the pool when it is released.
    const memory = jitAvailable() ? new LargeMemory(true) : null;
    // Each run's outputs from reused heap pages, not freshly faulted ones (policy.ts, MALLOC_KEEP).
    if (memory !== null) keepFreedMemory(MALLOC_KEEP.mmapBytes, MALLOC_KEEP.trimBytes);
    const graph = loadGraph(readModel(bytes), ext, memory);
    return new InferenceSession(graph, options, memory);
  }

  /** Constant weight tensors packed (all at create: runs pack none). */
  get weightsPacked(): number {
    return this.#env.weights.count;
  }

  /** Nodes left after optimization (for tests and reports). */
  get nodeCount(): number {
    return this.#graph.nodes.length;
  }

  /** The op types left after optimization, with their counts (`domain.op` outside ai.onnx). */
  get nodeOps(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const n of this.#graph.nodes) {
      // Other domains' ops by domain too (com.microsoft.Attention is not ONNX's Attention).
      const k = n.domain === "" ? n.op : `${n.domain}.${n.op}`;
      out[k] = (out[k] ?? 0) + 1;
    }
    return out;
  }

  /** Checks the feeds and returns the plan for their shapes (built on first sight). */
  #plan(feeds: FeedsType): Plan {
    if (this.#released) throw new Error("InferenceSession: the session was released");
    if (feeds === null || typeof feeds !== "object") {
      throw new TypeError(`InferenceSession.run: feeds must be an object of input name → Tensor`);
    }
    const inputs = this.#graph.inputs;
    // for-in and a kept Map: checking the feeds allocates nothing.
    for (const k in feeds) {
      if (!this.#inputSet.has(k)) {
        throw new RangeError(
          `InferenceSession.run: '${k}' is not an input (inputs: ${this.inputNames.join(", ")})`,
        );
      }
    }
    const dims = this.#lastDims;
    let same = this.#last !== null;
    const symbols = this.#symbols;
    symbols.clear();
    for (let i = 0; i < inputs.length; i++) {
      const v = inputs[i], t = feeds[v.name];
      if (t === undefined) {
        throw new RangeError(`InferenceSession.run: input '${v.name}' is missing`);
      }
      if (t === null || typeof t !== "object") {
        throw new TypeError(`InferenceSession.run: input '${v.name}' must be a Tensor`);
      }
      const data = t.data, td = t.dims, type = t.type;
      const want = v.half ? "float16" : v.vocabulary ? "string" : v.type;
      // Kind and length through the intrinsic getters: a subclass cannot lie about them; a
      // string input's array of strings (checked element by element when encoded).
      const have = v.vocabulary
        ? (Array.isArray(data) ? "string" : null)
        : TAG_TYPES[typedArrayTag(data) ?? ""] ?? null;
      if (have === null) {
        throw new TypeError(
          `InferenceSession.run: input '${v.name}' data must be a typed array of ${want}, got ${
            describe(data)
          }`,
        );
      }
      if (
        type !== want ||
        (have !== type && !(type === "bool" && have === "uint8") &&
          !(type === "float16" && have === "uint16"))
      ) {
        throw new TypeError(
          `InferenceSession.run: input '${v.name}' is ${String(type)}${
            have && have !== type ? ` (${have} data)` : ""
          }, expected ${want}`,
        );
      }
      if (!Array.isArray(td)) {
        throw new TypeError(`InferenceSession.run: input '${v.name}' has no dims array`);
      }
      let size = 1;
      for (let k = 0; k < td.length; k++) {
        const d = td[k];
        if (typeof d !== "number" || !Number.isInteger(d) || d < 0) {
          throw new RangeError(
            `InferenceSession.run: input '${v.name}' dims[${k}] is ${String(d)}`,
          );
        }
        size *= d;
      }
      // (A typed array, or a string input's array: `have` above.)
      const length = have === "string"
        ? (data as string[]).length
        : viewLength(data as ArrayBufferView);
      if (size !== length) {
        throw new RangeError(
          `InferenceSession.run: input '${v.name}' has dims [${
            td.join(", ")
          }] (${size} elements) but ${length} values`,
        );
      }
      if (v.dims !== null) {
        if (td.length !== v.dims.length) {
          throw new RangeError(
            `InferenceSession.run: input '${v.name}' has rank ${td.length}, expected ${v.dims.length} ([${
              v.dims.map((d) => d ?? "?").join(", ")
            }])`,
          );
        }
        for (let k = 0; k < td.length; k++) {
          const want = v.dims[k];
          if (typeof want === "number" && want !== td[k]) {
            throw new RangeError(
              `InferenceSession.run: input '${v.name}' dims[${k}] is ${td[k]}, expected ${want}`,
            );
          }
          if (typeof want === "string") {
            const seen = symbols.get(want);
            if (seen !== undefined && seen !== td[k]) {
              throw new RangeError(
                `InferenceSession.run: input '${v.name}' dims[${k}] is ${
                  td[k]
                }, but '${want}' is ${seen} in another input`,
              );
            }
            symbols.set(want, td[k]);
          }
        }
      }
      if (same) {
        const prev = dims[i];
        if (prev.length !== td.length) same = false;
        else for (let k = 0; k < td.length; k++) if (prev[k] !== td[k]) same = false;
      }
    }
    // Inputs whose values the plan depends on: the same values, or another plan.
    const keyed = this.#keyed;
    if (same && keyed !== null) {
      for (let i = 0; i < keyed.length && same; i++) {
        const now = feeds[inputs[keyed[i]].name].data, was = this.#lastKnown[i];
        for (let k = 0; k < was.length; k++) if (now[k] !== was[k]) same = false;
      }
    }
    if (same) return this.#last!;
    const feedDims = inputs.map((v) => [...feeds[v.name].dims]);
    let key = feedDims.map((d) => d.join("x")).join(",");
    if (keyed !== null) key += "|" + keyed.map((i) => feeds[inputs[i].name].data.join()).join("|");
    let plan = this.#plans.get(key);
    if (plan) this.#plans.delete(key); // re-inserted last: the Map's order is the LRU order
    else {
      plan = this.#build(feedDims, feeds);
      if (this.#keyed !== keyed) {
        // The plan needed input values: keyed by them from now on (this plan included).
        key += "|" + this.#keyed!.map((i) => feeds[inputs[i].name].data.join()).join("|");
      }
      plan.tuneRunsLeft = this.#tuningRuns;
      if (this.#plans.size >= MAX_PLANS) this.#plans.delete(this.#plans.keys().next().value!);
    }
    this.#plans.set(key, plan);
    this.#last = plan;
    this.#lastDims = feedDims;
    this.#lastKnown = this.#keyed?.map((i) => feeds[inputs[i].name].data.slice() as TensorData) ??
      [];
    return plan;
  }

  /**
   * A new plan for the feeds' shapes. Where it needs an input's values (a shape or an If
   * condition read from a graph input), the first such plan finds which small bool or
   * integer inputs it needs — all of them, then each dropped that is not needed — and the
   * session keys its plans by their values from then on.
   */
  #build(feedDims: number[][], feeds: FeedsType): Plan {
    const inputs = this.#graph.inputs;
    const knownOf = (which: readonly number[]) =>
      new Map(which.map((i) => [inputs[i].name, feeds[inputs[i].name].data.slice() as TensorData]));
    if (this.#keyed !== null) {
      return buildPlan(this.#graph, feedDims, this.#env, knownOf(this.#keyed));
    }
    try {
      return buildPlan(this.#graph, feedDims, this.#env);
    } catch (e) {
      const needsValues = e instanceof ModelError &&
        /must be known when the plan is made|data-dependent shapes/.test(e.message);
      const small = inputs.flatMap((v, i) =>
        VALUE_TYPES.has(v.type) && feeds[v.name].data.length <= MAX_VALUE_ELEMENTS ? [i] : []
      );
      if (!needsValues || small.length === 0) throw e;
      let plan: Plan;
      try {
        plan = buildPlan(this.#graph, feedDims, this.#env, knownOf(small));
      } catch (known) {
        // With the values known the model fails for another reason: that one is the news.
        const another = known instanceof ModelError &&
          !/must be known when the plan is made|data-dependent shapes/.test(known.message);
        throw another ? known : e;
      }
      let need = small;
      for (const i of small) {
        const fewer = need.filter((j) => j !== i);
        try {
          plan = buildPlan(this.#graph, feedDims, this.#env, knownOf(fewer));
          need = fewer;
        } catch { /* input i is needed */ }
      }
      this.#keyed = need; // plan is the last that built: the one with `need` known
      return plan;
    }
  }

  /**
   * A second plan for the shapes of `plan` (built on first need, kept while
   * `plan` is): what runSync computes on while `plan` runs off the loop.
   */
  #spareOf(plan: Plan): Plan {
    let spare = this.#spares.get(plan);
    if (spare === undefined) {
      spare = buildPlan(this.#graph, this.#lastDims, this.#env, plan.known);
      this.#spares.set(plan, spare);
    }
    return spare;
  }

  /**
   * The outputs a run returns, as ONNX Runtime reads its second argument: an
   * array of output names; an object whose output-name keys hold a Tensor or
   * null (only those are fetched, into the Tensors given); any other object
   * is RunOptions (every output).
   */
  #fetch(plan: Plan, fetches: FetchesType | RunOptions | undefined): Fetch {
    if (fetches === undefined) {
      return this.#allOutputs ??= { names: this.#everyOutput(), into: null };
    }
    if (fetches === null || typeof fetches !== "object" || fetches instanceof Tensor) {
      throw new TypeError(
        "InferenceSession.run: fetches must be an array of output names or an object of them",
      );
    }
    if (Array.isArray(fetches)) {
      for (const f of fetches) {
        if (!this.outputNames.includes(f)) {
          throw new RangeError(
            `InferenceSession.run: '${String(f)}' is not an output (outputs: ${
              this.outputNames.join(", ")
            })`,
          );
        }
        if (this.#nonTensor.has(f)) this.#notTensor(f);
      }
      return { names: fetches, into: null };
    }
    const dict = fetches as Record<string, unknown>, names: string[] = [];
    for (const name of this.outputNames) {
      if (!Object.hasOwn(dict, name)) continue;
      const t = dict[name];
      if (t !== null && !(t instanceof Tensor)) continue;
      if (this.#nonTensor.has(name)) this.#notTensor(name);
      const i = this.#outputIndex.get(name)!;
      if (t !== null && this.#graph.outputs[i].labels) {
        throw new TypeError(
          `InferenceSession.run: fetches['${name}'] is a classifier's string labels: pass null ` +
            `(a new string tensor each run), not a tensor to fill`,
        );
      }
      if (t !== null) checkInto(name, t, plan.outputs[i], this.#graph.outputs[i].half === true);
      names.push(name);
    }
    if (names.length === 0) return this.#allOutputs ??= { names: this.#everyOutput(), into: null };
    return { names, into: dict as Record<string, Tensor | null> };
  }
  #allOutputs: Fetch | null = null;

  /** Every output, for a run that names none: refused where one is no tensor, as in ORT. */
  #everyOutput(): readonly string[] {
    for (const name of this.#nonTensor) this.#notTensor(name);
    return this.outputNames;
  }

  /** The error for fetching an output that is no tensor. */
  #notTensor(name: string): never {
    const others = this.outputNames.filter((n) => !this.#nonTensor.has(n));
    throw new TypeError(
      `InferenceSession.run: output '${name}' is a sequence of maps (ZipMap), not a tensor; ` +
        `onnxruntime-node returns none either ("Non tensor type is temporarily not supported"): ` +
        `fetch the tensor outputs (${others.join(", ")}), e.g. run(feeds, [${
          others.map((n) => JSON.stringify(n)).join(", ")
        }])`,
    );
  }

  /**
   * Per input of a plan, the options of a copy by every thread (float32
   * inputs of SPLIT_COPY_FLOATS or more), else null: each thread then holds
   * its contiguous share of the feed in its own cache, where the first
   * layer's parts, cut in contiguous ranges too, mostly read it (a copy by
   * the calling thread alone leaves the worker to fetch its share from the
   * caller's cache).
   */
  #splitCopies(plan: Plan): (CopyOptions | null)[] {
    let copies = this.#copyPlans.get(plan);
    if (copies === undefined) {
      copies = plan.inputs.map((d, i) =>
        typedArrayTag(d) === "Float32Array" && !this.#graph.inputs[i].half &&
          d.length >= SPLIT_COPY_FLOATS
          ? { dims: [d.length], xStrides: [1], yStrides: [1] }
          : null
      );
      this.#copyPlans.set(plan, copies);
    }
    return copies;
  }
  readonly #copyPlans = new WeakMap<Plan, (CopyOptions | null)[]>();

  /**
   * Copies the feeds into the plan's inputs: split over the pool only when a
   * worker was awake as the run began (`awake`, read before the run's hold
   * woke the sleepers): one asleep would be woken for the copy (a dense
   * stream of calls wakes them: policy.ts), and the copy would wait for its
   * arrival (BERT's layer on 2 threads, `deno task compare-models --models
   * bert --threads 2`, a run's first call waiting so against not, three
   * rounds: ×1.16-1.20 ORT against ×1.22). Read after the hold's wake-up,
   * the choice raced it: a worker that woke within the few µs between took
   * the copy on one machine and not on another (CI).
   */
  #copyIn(plan: Plan, feeds: FeedsType, awake: boolean): void {
    const inputs = this.#graph.inputs;
    const split = this.#jit.threads > 1 && awake ? this.#splitCopies(plan) : null;
    for (let i = 0; i < inputs.length; i++) {
      if (inputs[i].vocabulary) {
        this.#encode(i, feeds[inputs[i].name].data as string[], plan.inputs[i] as BigInt64Array);
        continue;
      }
      const data = feeds[inputs[i].name].data as ArrayBufferView;
      const copy = split?.[i] ?? null;
      if (copy !== null && typedArrayTag(data) === "Float32Array") {
        this.#jit.copy(data as Float32Array, plan.inputs[i] as Float32Array, copy);
        continue;
      }
      // float16 feeds convert to float32 (exactly) as they are copied; bits in a Uint16Array
      // are read as halves first.
      const src = inputs[i].half && typedArrayTag(data) === "Uint16Array"
        ? new Float16Array(viewBuffer(data), viewByteOffset(data), viewLength(data))
        : data;
      if (copyData(this.#jit, plan.inputs[i] as TensorData, src as TensorData)) {
        this.#aliasedCopies++;
      }
    }
  }

  /**
   * A string input's codes into `into`: each string's index in the input's vocabulary, −1
   * for any other (an unknown category, as the encoders read it).
   */
  #encode(i: number, strings: readonly string[], into: BigInt64Array): void {
    const v = this.#graph.inputs[i];
    let codes = this.#codes.get(v.name);
    if (codes === undefined) {
      codes = new Map(v.vocabulary!.map((s, k) => [s, BigInt(k)]));
      this.#codes.set(v.name, codes);
    }
    for (let k = 0; k < into.length; k++) {
      const s = strings[k];
      if (typeof s !== "string") {
        throw new TypeError(
          `InferenceSession.run: input '${v.name}' element ${k} is ${describe(s)}, not a string`,
        );
      }
      into[k] = codes.get(s) ?? -1n;
    }
  }
  /** Each string input's codes by string, made on its first run. */
  readonly #codes = new Map<string, Map<string, bigint>>();

  /**
   * The run's outputs: a new array per output per run (the caller owns it, as
   * in ONNX Runtime), or copied into the caller's `fetches` tensors. New
   * arrays can cost more than the copy: on the 2-vCPU guest, where a page
   * fault costs microseconds, BERT's 393 KB output cost about as much as a
   * LayerNorm in most 2-thread runs and over ten times that in some (fresh
   * pages after glibc trimmed the freed ones: scratch timestamps). Not kept:
   * pre-faulting the arrays while the list runs (it moved the faults into the
   * list's time: no gain turn by turn, `run` at 1 and 2 threads); raising
   * glibc's trim and mmap thresholds (process-wide; `deno task
   * compare-models` showed no gain against ORT, which allocates its outputs
   * the same way); and recycling native-backed ArrayBuffers once collected:
   * Deno transfers an external ArrayBuffer (`structuredClone` with transfer,
   * `transfer()`, `postMessage`) without copying, so the collection of the
   * array we returned does not free its memory. A caller that wants no
   * allocation passes its own tensors as `fetches`.
   */
  #results(plan: Plan, fetch: Fetch): ReturnType {
    const out: ReturnType = {};
    for (const name of fetch.names) {
      const index = this.#outputIndex.get(name)!, o = plan.outputs[index];
      const into = fetch.into?.[name] ?? null;
      const half = this.#graph.outputs[index].half === true;
      const labels = this.#graph.outputs[index].labels;
      if (labels) {
        // A classifier's string labels: its int64 indexes turned into them.
        const at = o.data as BigInt64Array, strings = new Array<string>(at.length);
        for (let i = 0; i < at.length; i++) strings[i] = labels[Number(at[i])];
        out[name] = new Tensor("string", strings, o.dims);
        continue;
      }
      if (into === null) {
        // float16 outputs rounded from float32 (to nearest, ties to even) as they are copied.
        out[name] = half
          ? new Tensor("float16", Float16Array.from(o.data as Float32Array), o.dims)
          : new Tensor(o.type, o.data.slice(), o.dims);
      } else {
        // Checked before the run (checkInto): its array, of the output's kind and length.
        if (copyData(this.#jit, into.data as TensorData, o.data)) this.#aliasedCopies++;
        out[name] = into;
      }
    }
    return out;
  }

  /**
   * Runs the model on the calling thread (scripts, benches). While a `run`
   * of the same shapes is in flight (its calls write that plan's arena off
   * the event loop), it runs on a spare plan of its own.
   */
  runSync(feeds: FeedsType, fetches?: FetchesType | RunOptions, _options?: RunOptions): ReturnType {
    let plan = this.#plan(feeds);
    if (plan === this.#inFlight) plan = this.#spareOf(plan);
    const names = this.#fetch(plan, fetches);
    const awake = workerAwake(this.#jit);
    // The pool's workers stay awake from one layer to the next (Jit.holdWorkers).
    this.#jit.holdWorkers(true);
    try {
      this.#copyIn(plan, feeds, awake);
      if (plan.tuneRunsLeft > 0) return this.#tuningRun(plan, names);
      const prof = this.#profiler;
      if (prof === null) {
        const t0 = performance.now();
        this.#onThread(plan);
        noteInlineRun(plan.place, performance.now() - t0);
      } else prof.runSteps(plan.steps);
      return this.#results(plan, names);
    } finally {
      this.#jit.holdWorkers(false);
    }
  }

  /**
   * Runs the model without blocking the event loop: the Jit's calls run on
   * a thread of Deno's blocking pool; a plan measured to run in under 1 ms
   * runs on this thread instead (the hop costs more: see policy.ts). Runs of
   * one session are queued; with none pending, a run starts at once (its
   * feeds read before `run` returns), not a microtask later.
   */
  run(
    feeds: FeedsType,
    fetches?: FetchesType | RunOptions,
    _options?: RunOptions,
  ): Promise<ReturnType> {
    const start = () => this.#runAsync(feeds, fetches);
    const next = this.#pending === 0 ? start() : this.#queue.then(start);
    this.#pending++;
    // Settled before the caller's continuation (its reaction is registered first).
    const settled = () => void this.#pending--;
    this.#queue = next.then(settled, settled);
    return next;
  }
  /** Runs called and not yet settled. */
  #pending = 0;

  async #runAsync(feeds: FeedsType, fetches?: FetchesType | RunOptions): Promise<ReturnType> {
    const plan = this.#plan(feeds);
    const names = this.#fetch(plan, fetches);
    const awake = workerAwake(this.#jit);
    this.#jit.holdWorkers(true);
    this.#inFlight = plan;
    try {
      this.#copyIn(plan, feeds, awake);
      return await this.#runHeld(plan, names);
    } finally {
      this.#inFlight = null;
      this.#jit.holdWorkers(false);
    }
  }

  /** A run's steps, off the event loop unless short (the workers held awake by the caller). */
  async #runHeld(plan: Plan, names: Fetch): Promise<ReturnType> {
    if (plan.tuneRunsLeft > 0) return this.#tuningRun(plan, names);
    if (this.#profiler !== null) {
      this.#profiler.runSteps(plan.steps);
      return this.#results(plan, names);
    }
    // Short runs stay on this thread (run_place.ts: the hop would cost more than the wait).
    if (this.#shortRunsInline && runsInline(plan.place)) {
      const t0 = performance.now();
      this.#onThread(plan);
      noteInlineRun(plan.place, performance.now() - t0);
      return this.#results(plan, names);
    }
    const t0 = performance.now();
    await this.#offLoop(plan);
    noteOffLoopRun(plan.place, performance.now() - t0);
    return this.#results(plan, names);
  }

  /**
   * A plan's steps off the event loop: each stretch of native steps (begun
   * by a split step's calls after its JavaScript) one list of Jit calls on
   * a thread of Deno's blocking pool, host steps between them here, a tail
   * plan's steps the same way.
   */
  async #offLoop(plan: Plan): Promise<void> {
    const steps = plan.steps, jit = this.#jit;
    for (let i = 0, stretch = 0; i < steps.length; stretch++) {
      const first = steps[i];
      if (first.tail) {
        const t = first.tail();
        await this.#offLoop(t.plan);
        t.finish();
        i++;
        continue;
      }
      if (!first.native && !first.split) {
        first.run();
        i++;
        continue;
      }
      first.split?.prepare();
      const from = i;
      const to = i = stretchEnd(steps, from);
      // The same calls on the same memory as the last run: replayed, unless the Jit's code
      // changed since (then recorded anew). Every operand is the session's own (arena,
      // weights, copied feeds), held by the plan; a split step's JavaScript changes only
      // what its calls read.
      const recorded = plan.recorded[stretch];
      let done = recorded && this.#replay ? jit.replay(recorded) : null;
      if (done === null) {
        const again = jit.record(() => {
          for (let k = from; k < to; k++) (steps[k].split?.calls ?? steps[k].run)();
        });
        plan.recorded[stretch] = again;
        done = again.done;
      }
      await done;
    }
  }

  /**
   * A plan's steps on the calling thread, stretch by stretch as `#offLoop`
   * runs them: each stretch's Jit calls replayed from the list recorded on
   * its last run (one native call: no step's TypeScript, validation or
   * dispatch) while nothing of them changed, else recorded anew and run.
   */
  #onThread(plan: Plan): void {
    const steps = plan.steps, jit = this.#jit;
    if (!this.#replay) {
      for (const s of steps) s.run();
      return;
    }
    for (let i = 0, stretch = 0; i < steps.length; stretch++) {
      const first = steps[i];
      if (first.tail) {
        const t = first.tail();
        this.#onThread(t.plan);
        t.finish();
        i++;
        continue;
      }
      if (!first.native && !first.split) {
        first.run();
        i++;
        continue;
      }
      first.split?.prepare();
      const from = i;
      const to = i = stretchEnd(steps, from);
      const recorded = plan.recorded[stretch];
      if (recorded && jit.replaySync(recorded)) continue;
      plan.recorded[stretch] = jit.recordSync(() => {
        for (let k = from; k < to; k++) (steps[k].split?.calls ?? steps[k].run)();
      });
    }
  }

  /**
   * A warm-up run (`tuningRuns`): on this thread, every kernel tuning on its
   * call; the last one (or the first after which nothing is left to tune)
   * ends the warm-up.
   */
  #tuningRun(plan: Plan, names: Fetch): ReturnType {
    const jit = this.#jit;
    jit.warmup(true);
    try {
      if (this.#profiler !== null) this.#profiler.runSteps(plan.steps);
      else for (const s of plan.steps) s.run();
    } finally {
      plan.tuneRunsLeft--;
      jit.warmup(false);
      if (jit.tuningPending === 0) plan.tuneRunsLeft = 0;
    }
    return this.#results(plan, names);
  }

  /** Kernels whose tuning (tier 2) has not ended: 0 once the warm-up has tuned them all. */
  get tuningPending(): number {
    return this.#jit.tuningPending;
  }

  /**
   * Stretches of native steps in the last used plan (a split step's calls
   * begin one): `run` goes off the event loop once for each (schedule.ts;
   * for tests and reports).
   */
  get offLoopStretches(): number {
    const steps = this.#last?.steps ?? [];
    let count = 0;
    for (let i = 0; i < steps.length;) {
      if (steps[i].native || steps[i].split) {
        count++;
        i = stretchEnd(steps, i);
      } else i++;
    }
    return count;
  }

  /**
   * Copies of feeds in (or of outputs into the caller's tensors) that took
   * the Jit's copy kernel on one thread because memmove would have run
   * 4K-aliased there (feed_copy.ts; for tests and reports).
   */
  get aliasedCopies(): number {
    return this.#aliasedCopies;
  }
  #aliasedCopies = 0;

  /**
   * Bytes of the last used plan's arena, where its intermediate values live
   * (by liveness, an op that may compute in place taking its input's bytes;
   * for tests and reports). 0 before a run.
   */
  get arenaBytes(): number {
    return this.#last?.arenaBytes ?? 0;
  }

  /**
   * Nodes of the last used plan whose steps `run` computes on the calling
   * thread: TypeScript steps (shape arithmetic, gathers of indices). A
   * step that only reads this run's values there first (a mask into a
   * bias) and then calls the Jit is not one: its calls go off the loop.
   */
  get hostNodes(): string[] {
    return (this.#last?.steps ?? []).filter((s) => !s.native && !s.split && !s.tail)
      .map((s) => s.node.name);
  }

  /** The session's kernels: the Jit's stats (per key: calls, µs per call, plan, tier, tuning). */
  kernelStats(): JitStats {
    return this.#jit.stats();
  }

  /**
   * The hot nodes (calls and time per node, with enableProfiling) and the
   * kernels behind them (the Jit's report: calls, µs per call, plan).
   */
  report(limit = 20): string {
    const nodes = this.#profiler === null
      ? "per-node times: create the session with enableProfiling: true"
      : this.#profiler.report(limit);
    return `${nodes}\n\n${this.#jit.report(limit)}`;
  }

  /**
   * Profiling starts with the session (`enableProfiling`), as in
   * onnxruntime-node, where this is a no-op too.
   */
  startProfiling(): void {}

  /**
   * Writes the Chrome trace (enableProfiling) and returns its file name; ""
   * when profiling is off (ONNX Runtime writes nothing then either).
   */
  endProfiling(): string {
    if (this.#profiler === null) return "";
    return this.#profiler.write();
  }

  /**
   * Frees the session's code and buffers. Its constants and packed weights
   * are dropped too (a run in flight keeps what it reads), so a released
   * session still referenced does not keep them, nor the file's bytes they
   * are views of when it was created from a path.
   */
  release(): Promise<void> {
    if (!this.#released) {
      this.#released = true;
      this.#plans.clear();
      this.#last = null;
      this.#lastKnown = [];
      dropConstants(this.#graph.nodes, this.#graph.constants);
      this.#env.weights.clear();
      this.#jit.close();
      // Its weights and arenas back to the pool once no run of it is in flight (none starts now).
      const memory = this.#memory;
      if (memory !== null) return this.#queue.then(() => memory.release());
    }
    return Promise.resolve();
  }
}

/** Empties a graph's constants and its subgraphs' (a released session's). */
function dropConstants(nodes: readonly Node[], constants: Map<string, unknown>): void {
  constants.clear();
  for (const n of nodes) for (const b of n.branches ?? []) dropConstants(b.nodes, b.constants);
}

/**
 * Where the stretch of Jit calls that step `from` begins (a native step, or
 * a split step's calls) ends: past the native steps after it.
 */
function stretchEnd(steps: readonly PlanStep[], from: number): number {
  let i = from + 1;
  while (i < steps.length && steps[i].native) i++;
  return i;
}
