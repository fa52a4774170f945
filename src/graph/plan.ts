/**
 * A plan for one set of input shapes: shapes inferred through the graph,
 * every value computable before running (constants, shapes and what follows
 * from them) folded, intermediates placed in one arena by liveness, and one
 * step per remaining node bound to its buffers. Running a plan allocates
 * nothing.
 */
import { allocate, byteSize, type DType, type TensorData, viewOf } from "../onnx/dtype.ts";
import type { RecordedCalls } from "../runtime/jit.ts";
import { Attrs, describeNode, type Graph, type Node } from "./ir.ts";
import { ArenaPlanner } from "./memory.ts";
import { newRunPlace, type RunPlace } from "./run_place.ts";
import { hostStepsFirst, rangeOf, smallFirst, type StepAccess } from "./schedule.ts";
import {
  type Buf,
  checkedSize,
  type Env,
  fail,
  type Meta,
  type OpDef,
  sizeOf,
  type Step,
} from "./ops/op.ts";
import { ModelError } from "../onnx/wire.ts";
import { opDef } from "./ops/registry.ts";
import {
  expandScan,
  expandSequence,
  expandSequenceMap,
  type LoopState,
  loopStep,
  startLoop,
} from "./unroll.ts";

/** An output a node leaves unnamed past those its op gives: nothing (see `inferNode`). */
const EMPTY_OUTPUT: Meta = { type: "float32", dims: [0], data: new Float32Array(0) };

/** A node bound to its buffers. */
export interface PlanStep {
  node: Node;
  run: () => void;
  /** Only Jit calls: may run off the event loop. */
  native: boolean;
  /** JavaScript, then Jit calls only: the calls may run off the event loop (`Step.split`). */
  split?: Step["split"];
  /**
   * The step past a cut (its JavaScript: this run's values read, the rest's plan found),
   * returning that plan and what to do once it has run: off the event loop the plan's
   * steps go like the outer plan's, not all on the calling thread.
   */
  tail?: () => { plan: Plan; finish: () => void };
  /**
   * Its inputs' and outputs' element types and dims at this plan's shapes, as ONNX Runtime's
   * profile gives them (`input_type_shape`, `output_type_shape`: an absent input is `{}`).
   */
  shapes?: { inputs: TypeShape[]; outputs: TypeShape[] };
}

/** A value's element type and dims, as ONNX Runtime's profile writes them: `{ float: [1, 64] }`. */
export type TypeShape = Record<string, readonly number[]>;

/** ONNX Runtime's name of an element type in its profile (float32 as "float"). */
function typeShape(b: { type: DType; dims: readonly number[] } | null): TypeShape {
  if (b === null) return {};
  const name = b.type === "float32" ? "float" : b.type === "float64" ? "double" : b.type;
  return { [name]: b.dims };
}

/** A value's storage. */
interface Root {
  type: DType;
  bytes: number;
  first: number;
  last: number;
  offset: number;
  /** Set for feeds (own buffer) and after the arena is made. */
  buffer: ArrayBuffer | null;
}

/** What a run needs: buffers for the feeds, the steps, the outputs' buffers. */
export interface Plan {
  /** One buffer per graph input, the feed is copied into. */
  inputs: TensorData[];
  steps: PlanStep[];
  outputs: { type: DType; dims: number[]; data: TensorData }[];
  /** Bytes of the intermediate arena. */
  arenaBytes: number;
  /** Where its runs went and how long they took, for `session.run`'s choice (run_place.ts). */
  place: RunPlace;
  /** Tuning warm-up runs left (the session's `tuningRuns`; 0: none). */
  tuneRunsLeft: number;
  /** Each run of native steps as recorded off the loop, to replay (index: the run's order). */
  recorded: (RecordedCalls | null)[];
  /** The input values it was made for (null: shapes alone). */
  known: ReadonlyMap<string, TensorData> | null;
}

function defOf(n: Node): OpDef {
  const def = opDef(n.op, n.domain);
  if (def === null) fail(n, "has no implementation"); // load() checked: unreachable
  return def;
}

/**
 * Infers a node's outputs; if every input is known, computes them now (the
 * node folds). Returns the output metas (data set when known).
 */
export function inferNode(n: Node, ins: readonly (Meta | null)[], env: Env): Meta[] {
  const def = defOf(n);
  let outs: Meta[];
  try {
    outs = def.infer(n, ins);
  } catch (e) {
    // A folded output too large to allocate (a shape computed from corrupt data).
    if (e instanceof RangeError && /allocation failed|Invalid typed array length/.test(e.message)) {
      fail(n, `an output too large to allocate (${e.message})`);
    }
    throw e;
  }
  if (outs.length < n.outputs.length) {
    // Outputs past those the op gives may be there unnamed ("": MaxPool's Indices left
    // out as ["Y", ""]): empty, asking for nothing. A named one is an error.
    if (n.outputs.slice(outs.length).some((name) => name !== "")) {
      fail(n, `gives ${outs.length} outputs, ${n.outputs.length} named`);
    }
    const unnamed = n.outputs.length - outs.length;
    outs = [...outs, ...Array.from({ length: unnamed }, () => EMPTY_OUTPUT)];
  }
  // Every tensor within the elements one array holds (the kernels' limit too): a corrupt
  // shape must fail here, not as an arena the host cannot back.
  for (const o of outs) checkedSize(n, o.dims);
  if (outs.every((o) => o.data !== null)) return outs;
  const present = ins.filter((m): m is Meta => m !== null);
  if (def.random || present.length === 0 || present.some((m) => m.data === null)) return outs;
  // Every input known: evaluate now.
  if (def.alias) return [{ ...outs[0], data: present[0].data }, ...outs.slice(1)];
  const bufs = ins.map((m) => m && { type: m.type, dims: m.dims, data: m.data!, constant: true });
  const outBufs: Buf[] = outs.map((o) => ({
    type: o.type,
    dims: o.dims,
    data: o.data ?? allocate(o.type, sizeOf(o.dims)),
    constant: true,
  }));
  if (outBufs.some((b) => b.data.length > 0)) def.build(n, bufs, outBufs, env)?.run();
  return outBufs.map((b) => ({ type: b.type, dims: b.dims, data: b.data }));
}

/**
 * Builds the plan for the graph's inputs having `feedDims`; the inputs in `known` have
 * those values (the session keys such plans by them), so what they decide folds: shapes
 * computed from them, the branch an If takes.
 */
export function buildPlan(
  graph: Graph,
  feedDims: readonly number[][],
  env: Env,
  known: ReadonlyMap<string, TensorData> | null = null,
  bound: ReadonlyMap<string, BoundValue> | null = null,
): Plan {
  const metas = new Map<string, Meta>();
  for (const [name, t] of graph.constants) {
    metas.set(name, { type: t.type, dims: t.dims, data: t.data });
  }
  const roots = new Map<string, Root>();
  /** Byte offset of a value inside its root (a block of a Concat or Split), when not 0. */
  const within = new Map<string, number>();
  // Values an enclosing plan computed (before its data-dependent node): read where they are.
  for (const [name, b] of bound ?? []) {
    metas.set(name, { type: b.type, dims: b.dims, data: null });
    roots.set(name, { type: b.type, bytes: 0, first: -1, last: -1, offset: 0, buffer: b.buffer });
    if (b.byteOffset) within.set(name, b.byteOffset);
  }
  const inputs: TensorData[] = [];
  graph.inputs.forEach((v, i) => {
    const dims = feedDims[i].slice();
    metas.set(v.name, { type: v.type, dims, data: known?.get(v.name) ?? null });
    const data = allocate(v.type, sizeOf(dims));
    inputs.push(data);
    roots.set(v.name, {
      type: v.type,
      bytes: 0,
      first: -1,
      last: -1,
      offset: 0,
      buffer: data.buffer as ArrayBuffer,
    });
  });
  // Shapes and folding; the nodes left run.
  const live: Node[] = [];
  const owner = new Map<string, Root>(roots);
  /** Nodes whose outputs are views of their input (no step). */
  const viewed = new Set<Node>();
  // A queue: an If whose condition is known is replaced by its branch's nodes, a Loop by
  // its body's, an iteration at a time (each followed by a marker that decides the next).
  const queue = graph.nodes.slice();
  const loops = new Map<Node, LoopState>();
  /** Sequences: their elements' value names (sequence ops expand into views, Concat, Split). */
  const sequences = new Map<string, string[]>();
  // Where a data-dependent node (NonZero of values computed at run time) cuts the plan, and
  // (another node) the small values whose run-time values its shapes need.
  let cut = -1, cutValues: string[] | null = null;
  for (let q = 0; q < queue.length; q++) {
    const n = queue[q];
    const state = loops.get(n);
    if (state) {
      queue.splice(q + 1, 0, ...loopStep(state, metas));
      continue;
    }
    if (n.branches && n.op === "SequenceMap") {
      queue.splice(q + 1, 0, ...expandSequenceMap(n, metas, sequences));
      continue;
    }
    if (defOf(n).expands) {
      queue.splice(q + 1, 0, ...expandSequence(n, metas, sequences));
      continue;
    }
    const ins = n.inputs.map((name) => (name === "" ? null : metas.get(name)!));
    if (defOf(n).dynamic && ins.some((m) => m !== null && m.data === null)) {
      // The node's own checks first (its inputs' count and types): only its data-dependence
      // defers it to the run, whose `dynamic` then finds its inputs as checked.
      try {
        defOf(n).infer(n, ins);
      } catch (e) {
        if (!(e instanceof ModelError && /data-dependent shapes/.test(e.message))) throw e;
      }
      if (loops.size > 0 && queue.slice(q).some((x) => loops.has(x))) {
        fail(n, "a data-dependent node inside a Loop's body is not supported");
      }
      cut = q;
      break;
    }
    if (n.branches && n.op === "Scan") {
      queue.splice(q + 1, 0, ...expandScan(n, ins, metas));
      continue;
    }
    if (n.branches && n.op === "Loop") {
      const first = startLoop(n, ins, metas, loops);
      queue.splice(q + 1, 0, ...first);
      continue;
    }
    if (n.branches) {
      queue.splice(q + 1, 0, ...expandIf(n, ins[0]!, metas, env));
      continue;
    }
    let outs: Meta[];
    try {
      outs = inferNode(n, ins, env);
    } catch (e) {
      if (e instanceof RangeError || e instanceof TypeError) {
        throw new RangeError(`${describeNode(n)}: ${e.message}`);
      }
      // A shape read from small integer values computed at run time (a Reshape's, a Range's
      // bounds, a Slice's ends): cut here, the rest planned per run for those values (a node
      // failing for another reason fails again there, at the same first run).
      const small = n.inputs.filter((name, i) => {
        const m = ins[i];
        return m !== null && m.data === null && VALUE_TYPES.has(m.type) &&
          sizeOf(m.dims) <= MAX_VALUE_ELEMENTS && name !== "";
      });
      // (A graph input's values the session keys its plans by instead: a whole plan each.)
      if (
        e instanceof ModelError && small.length > 0 &&
        !small.some((name) => graph.inputs.some((v) => v.name === name)) &&
        !queue.slice(q).some((x) => loops.has(x))
      ) {
        cut = q;
        cutValues = small;
        break;
      }
      throw e;
    }
    n.outputs.forEach((name, i) => name !== "" && metas.set(name, outs[i]));
    if (outs.every((o, i) => o.data !== null || n.outputs[i] === "")) continue;
    const step = live.length, def = defOf(n);
    // Outputs that are blocks of input 0 (Split): views of its storage, no step.
    const x = metas.get(n.inputs[0]);
    const at = def.views && x && x.data === null ? def.views(n, x, outs) : null;
    if (at !== null) {
      const root = owner.get(n.inputs[0])!, base = within.get(n.inputs[0]) ?? 0;
      const size = byteSize(x!.type);
      n.outputs.forEach((name, i) => {
        if (name === "") return;
        owner.set(name, root);
        if (base + at[i] * size !== 0) within.set(name, base + at[i] * size);
      });
      viewed.add(n);
      live.push(n);
      continue;
    }
    n.outputs.forEach((name, i) => {
      if (name === "" || outs[i].data !== null) return;
      if (def.alias && i === 0) {
        owner.set(name, owner.get(n.inputs[0])!);
        const base = within.get(n.inputs[0]);
        if (base) within.set(name, base);
      } else {
        const bytes = sizeOf(outs[i].dims) * byteSize(outs[i].type);
        owner.set(name, {
          type: outs[i].type,
          bytes,
          first: step,
          last: step,
          offset: 0,
          buffer: null,
        });
      }
    });
    live.push(n);
  }
  // The small values of the feeds alone first (schedule.ts); roots re-numbered by their producer.
  const inputNames = new Set(graph.inputs.map((v) => v.name));
  const { order, early } = smallFirst(
    live,
    (name) => inputNames.has(name) || metas.get(name)?.data != null,
    (name) => {
      const m = metas.get(name)!;
      return sizeOf(m.dims) * byteSize(m.type);
    },
  );
  const oldIndex = new Map(live.map((n, i) => [n, i]));
  const moved = new Map(order.map((n, i) => [oldIndex.get(n)!, i]));
  for (const r of new Set(owner.values())) if (r.first >= 0) r.first = moved.get(r.first)!;
  live.splice(0, live.length, ...order);
  // Liveness: the last step reading each root; graph outputs live to the end.
  live.forEach((n, i) => {
    for (const name of n.inputs) {
      const r = owner.get(name);
      if (r) r.last = Math.max(r.last, i);
    }
  });
  for (const o of graph.outputs) {
    const r = owner.get(o.name);
    if (r) r.last = Infinity;
  }
  for (const r of owner.values()) {
    if (r.first >= 0 && r.first < early) r.last = Math.max(r.last, early - 1);
  }
  // Past a cut: what the rest of the graph reads of this plan's values lives to the end.
  const rest = cut >= 0 ? queue.slice(cut) : [];
  const carried = new Set<string>();
  for (const n of rest) {
    for (const name of n.inputs) if (name !== "" && metas.has(name)) carried.add(name);
  }
  for (const o of graph.outputs) if (metas.has(o.name)) carried.add(o.name);
  for (const name of carried) {
    const r = owner.get(name);
    if (r && metas.get(name)!.data === null) r.last = Infinity;
  }
  placeSlices(live, metas, owner, within);
  placeInPlace(live, metas, owner, within);
  // Offsets by liveness.
  const arena = new ArenaPlanner();
  const byFirst = new Map<number, Root[]>(), byLast = new Map<number, Root[]>();
  for (const r of new Set(owner.values())) {
    if (r.buffer !== null) continue;
    (byFirst.get(r.first) ?? byFirst.set(r.first, []).get(r.first)!).push(r);
    if (r.last !== Infinity) (byLast.get(r.last) ?? byLast.set(r.last, []).get(r.last)!).push(r);
  }
  for (let i = 0; i < live.length; i++) {
    for (const r of byFirst.get(i) ?? []) r.offset = arena.alloc(r.bytes);
    for (const r of byLast.get(i) ?? []) arena.release(r.offset, r.bytes);
  }
  // The session's memory: pooled, its pages in place (native/large_memory.ts).
  const buffer = env.memory?.buffer(arena.size) ?? new ArrayBuffer(arena.size);
  const bufOf = (name: string): Buf => {
    const m = metas.get(name)!;
    if (m.data !== null) return { type: m.type, dims: m.dims, data: m.data, constant: true };
    const r = owner.get(name)!;
    const count = sizeOf(m.dims);
    const at = within.get(name) ?? 0;
    const data = r.buffer !== null
      ? viewOf(m.type, r.buffer, at, count)
      : viewOf(m.type, buffer, r.offset + at, count);
    return { type: m.type, dims: m.dims, data, constant: false };
  };
  const built: PlanStep[] = [], access: StepAccess[] = [];
  const ranges = (bufs: readonly (Buf | null)[]) =>
    bufs.flatMap((b) => {
      const r = b === null || b.constant ? null : rangeOf(b.data);
      return r === null ? [] : [r];
    });
  for (const n of live) {
    const ins = n.inputs.map((name) => (name === "" ? null : bufOf(name)));
    const outs = n.outputs.map((name) =>
      name === ""
        ? { type: "float32" as DType, dims: [0], data: new Float32Array(0), constant: false }
        : bufOf(name)
    );
    const def = defOf(n);
    if (def.alias || viewed.has(n)) continue;
    if (outs.every((o) => o.data.length === 0)) continue;
    const step = def.build(n, ins, outs, env);
    if (step) {
      built.push({
        node: n,
        run: step.run,
        native: step.native,
        split: step.split,
        shapes: { inputs: ins.map(typeShape), outputs: outs.map(typeShape) },
      });
      access.push({ reads: ranges(ins), writes: ranges(outs) });
    }
  }
  const steps = hostStepsFirst(built, access).map((i) => built[i]);
  // Outputs this plan computes; those past a cut are the tail's, set by each run.
  const outputs = graph.outputs.map((o) => {
    if (!metas.has(o.name)) return { type: o.type, dims: [0], data: allocate(o.type, 0) };
    const b = bufOf(o.name);
    return { type: b.type, dims: b.dims, data: b.data };
  });
  if (cut >= 0) {
    steps.push(tailStep(graph, rest, carried, metas, bufOf, outputs, env, known, cutValues));
  }
  return {
    inputs,
    steps,
    outputs,
    arenaBytes: arena.size,
    place: newRunPlace(),
    tuneRunsLeft: 0,
    recorded: [],
    known,
  };
}

/**
 * The nodes an If runs as: its chosen branch's nodes (its constants entered in `metas`),
 * then an Identity per output (views: no copies). An unknown condition is the op's error.
 */
function expandIf(n: Node, cond: Meta, metas: Map<string, Meta>, env: Env): Node[] {
  if (cond.data === null) inferNode(n, [cond], env); // throws: the condition must be known
  if (cond.data!.length !== 1) fail(n, `the condition has ${cond.data!.length} elements, not 1`);
  const branch = n.branches![Number(cond.data![0]) !== 0 ? 0 : 1];
  for (const [name, t] of branch.constants) {
    metas.set(name, { type: t.type, dims: t.dims, data: t.data });
  }
  const outs: Node[] = [];
  n.outputs.forEach((name, i) => {
    if (name === "") return;
    outs.push({
      op: "Identity",
      domain: "",
      name: `${n.name}/output ${i}`,
      inputs: [branch.outputs[i]],
      outputs: [name],
      attrs: new Attrs(new Map(), `output ${i} of ${describeNode(n)}`),
      opset: n.opset,
    });
  });
  return [...branch.nodes, ...outs];
}

/** A value of an enclosing plan a tail's plans read in place. */
export interface BoundValue {
  type: DType;
  dims: number[];
  buffer: ArrayBuffer;
  byteOffset: number;
}

/** Tail plans kept per cut (one per output shape of its data-dependent node). */
const MAX_TAIL_PLANS = 16;

/**
 * A tail's view of this plan's carried values: those known when the plan was made as its
 * constants (beside the graph's), the others (but `except`) bound in place.
 */
function carriedValues(
  graph: Graph,
  carried: ReadonlySet<string>,
  metas: ReadonlyMap<string, Meta>,
  bufOf: (name: string) => Buf,
  except: readonly string[] = [],
): { constants: Graph["constants"]; bound: Map<string, BoundValue> } {
  const constants = new Map(graph.constants);
  const bound = new Map<string, BoundValue>();
  for (const name of carried) {
    const m = metas.get(name)!;
    if (m.data !== null) {
      constants.set(name, { type: m.type, dims: m.dims, data: m.data } as never);
    } else if (!except.includes(name)) {
      const b = bufOf(name);
      bound.set(name, {
        type: b.type,
        dims: b.dims,
        buffer: b.data.buffer as ArrayBuffer,
        byteOffset: b.data.byteOffset,
      });
    }
  }
  return { constants, bound };
}

/** The tail plan kept for `key`, else one `make` builds, kept: least recently used dropped first. */
function tailPlan(tails: Map<string, Plan>, key: string, make: () => Plan): Plan {
  let plan = tails.get(key);
  if (plan) tails.delete(key);
  else {
    plan = make();
    if (tails.size >= MAX_TAIL_PLANS) tails.delete(tails.keys().next().value!);
  }
  tails.set(key, plan);
  return plan;
}

/**
 * The step past a cut: runs the data-dependent node (its outputs from this run's values),
 * then the rest of the graph on a plan for those outputs' shapes — built on first sight,
 * kept per shape —, its inputs the node's outputs, this plan's values read in place, and
 * the graph's outputs it computes handed to this plan's.
 */
function tailStep(
  graph: Graph,
  rest: readonly Node[],
  carried: ReadonlySet<string>,
  metas: ReadonlyMap<string, Meta>,
  bufOf: (name: string) => Buf,
  outputs: { type: DType; dims: number[]; data: TensorData }[],
  env: Env,
  known: ReadonlyMap<string, TensorData> | null,
  values: readonly string[] | null,
): PlanStep {
  const d = rest[0], def = defOf(d);
  if (values !== null) {
    return valuesTail(graph, rest, carried, metas, bufOf, outputs, env, known, values);
  }
  const dIns = d.inputs.map((name) => (name === "" ? null : bufOf(name)));
  const { constants, bound } = carriedValues(graph, carried, metas, bufOf);
  const tails = new Map<string, Plan>();
  // Graph outputs this plan does not compute: the tail's.
  const fromTail = graph.outputs.flatMap((o, i) => (metas.has(o.name) ? [] : [i]));
  return tailOf(d, () => {
    const outs = def.dynamic!(d, dIns);
    const key = outs.map((o) => o.dims.join("x")).join(",");
    const plan = tailPlan(tails, key, () => {
      const named = d.outputs.map((name, i) => ({ name, o: outs[i] })).filter((x) => x.name);
      const sub: Graph = {
        nodes: rest.slice(1),
        inputs: named.map((x) => ({ name: x.name, type: x.o.type, dims: x.o.dims })),
        outputs: graph.outputs,
        constants,
      };
      return buildPlan(sub, named.map((x) => x.o.dims), env, known, bound);
    });
    let i = 0;
    d.outputs.forEach((name, k) => {
      if (name) (plan.inputs[i++] as Float32Array).set(outs[k].data as never);
    });
    return { plan, finish: () => handOutputs(plan, fromTail, outputs) };
  });
}

/** A step past a cut: `enter` does its JavaScript and returns the plan to run, then `finish`. */
function tailOf(node: Node, enter: () => { plan: Plan; finish: () => void }): PlanStep {
  return {
    node,
    native: false,
    run: () => {
      const t = enter();
      for (const s of t.plan.steps) s.run();
      t.finish();
    },
    tail: enter,
  };
}

/** The graph outputs a tail plan computed (at `fromTail`), handed to the outer plan's. */
function handOutputs(
  plan: Plan,
  fromTail: readonly number[],
  outputs: { type: DType; dims: number[]; data: TensorData }[],
): void {
  for (const k of fromTail) outputs[k] = plan.outputs[k];
}

/**
 * Element types whose values may key plans, a graph input's (the session's) or a value
 * computed at run time (a tail plan's): shapes, conditions, indices, and float32 too
 * (Resize's scales, a Range's float limits).
 */
export const VALUE_TYPES: ReadonlySet<string> = new Set([
  "int64",
  "int32",
  "bool",
  "uint8",
  "int8",
  "float32",
]);
/** At most this many elements: a shape, a condition — not a tensor of data. */
export const MAX_VALUE_ELEMENTS = 64;

/**
 * The step past a cut for values (see buildPlan): reads the small values from this run,
 * then runs the rest of the graph on a plan made with them known — kept per values (16 at
 * most) —, this plan's other values read in place.
 */
function valuesTail(
  graph: Graph,
  rest: readonly Node[],
  carried: ReadonlySet<string>,
  metas: ReadonlyMap<string, Meta>,
  bufOf: (name: string) => Buf,
  outputs: { type: DType; dims: number[]; data: TensorData }[],
  env: Env,
  known: ReadonlyMap<string, TensorData> | null,
  values: readonly string[],
): PlanStep {
  const { constants, bound } = carriedValues(graph, carried, metas, bufOf, values);
  const sources = values.map((name) => ({ name, buf: bufOf(name) }));
  const tails = new Map<string, Plan>();
  const fromTail = graph.outputs.flatMap((o, i) => (metas.has(o.name) ? [] : [i]));
  return tailOf(rest[0], () => {
    const key = sources.map((s) => s.buf.data.join()).join("|");
    const plan = tailPlan(tails, key, () => {
      const withValues = new Map(constants);
      for (const s of sources) {
        withValues.set(
          s.name,
          { type: s.buf.type, dims: s.buf.dims, data: s.buf.data.slice() } as never,
        );
      }
      const sub: Graph = {
        nodes: rest.slice(),
        inputs: [],
        outputs: graph.outputs,
        constants: withValues,
      };
      return buildPlan(sub, [], env, known, bound);
    });
    return { plan, finish: () => handOutputs(plan, fromTail, outputs) };
  });
}

/**
 * Concatenations without copies: where an op's inputs are contiguous blocks
 * of its output (`OpDef.slices`), each input whose storage is its own
 * intermediate (made by a step, not a feed, constant, graph output or
 * another block) moves into the output's storage at its block, so its
 * producer writes it there and the copy finds nothing to do. The output's
 * storage then lives from the first producer's step. Nested concatenations
 * (DenseNet's growing ones) nest: a placed output moves with its blocks.
 */
function placeSlices(
  live: readonly Node[],
  metas: ReadonlyMap<string, Meta>,
  owner: Map<string, Root>,
  within: Map<string, number>,
): void {
  live.forEach((n, step) => {
    const def = defOf(n);
    if (!def.slices || n.outputs.length !== 1) return;
    const out = metas.get(n.outputs[0])!, y = owner.get(n.outputs[0]);
    if (out.data !== null || !y || y.buffer !== null || y.first !== step) return;
    const ins = n.inputs.map((name) => (name === "" ? null : metas.get(name)!));
    if (ins.some((m) => m === null || m.type !== out.type)) return;
    const at = def.slices(n, out, ins as Meta[]);
    if (at === null) return;
    const size = byteSize(out.type), moved = new Set<Root>();
    n.inputs.forEach((name, i) => {
      const r = owner.get(name), m = ins[i]!;
      const bytes = sizeOf(m.dims) * size;
      if (
        !r || r === y || moved.has(r) || m.data !== null || r.buffer !== null ||
        r.last === Infinity || bytes === 0 || r.bytes !== bytes || (within.get(name) ?? 0) !== 0
      ) return;
      moved.add(r);
      const offset = at[i] * size;
      for (const [v, root] of owner) {
        if (root !== r) continue;
        owner.set(v, y);
        within.set(v, (within.get(v) ?? 0) + offset);
      }
      y.first = Math.min(y.first, r.first);
      y.last = Math.max(y.last, r.last);
    });
  });
}

/**
 * Output 0 of an op that may overwrite input 0 (`OpDef.inPlace`) takes
 * input 0's storage where nothing reads input 0 after the node: the output's
 * lines are then those the input's producer just wrote, in the cache of the
 * core that wrote them, instead of lines last written elsewhere in the
 * run, which a write must first fetch (on 2 threads, from the other core's
 * cache when another op wrote them split otherwise). Measured on Zen 5, a
 * BERT layer on 2 threads (`deno run -A bench/model_kernels.ts`, its kernels
 * inside it, 8a4b860 `--at` beside): its softmax 49-51 → 20-22 µs (15 alone,
 * called over and over), each LayerNormalization 28-31 → 18-19, the layer's
 * `runSync` ×0.989 (`bench/ab.ts --model bert --threads 2`); hours later,
 * the old softmax at 17.5-21.5 µs, 17.6, and the layer within the noise:
 * what it saves depends on where the host puts the two vCPUs. Same bits.
 */
function placeInPlace(
  live: readonly Node[],
  metas: ReadonlyMap<string, Meta>,
  owner: Map<string, Root>,
  within: ReadonlyMap<string, number>,
): void {
  live.forEach((n, step) => {
    const def = defOf(n), x = n.inputs[0], o = n.outputs[0];
    if (!def.inPlace || !x || !o || n.inputs.indexOf(x, 1) >= 0) return;
    const from = owner.get(x), to = owner.get(o), mx = metas.get(x)!, mo = metas.get(o)!;
    if (
      !from || !to || from === to || from.buffer !== null || to.buffer !== null ||
      mx.data !== null || mo.data !== null || from.last !== step || to.first !== step ||
      from.bytes !== to.bytes || mx.type !== mo.type || sizeOf(mx.dims) !== sizeOf(mo.dims) ||
      (within.get(x) ?? 0) !== 0 || (within.get(o) ?? 0) !== 0
    ) return;
    const ins = n.inputs.map((name) => (name === "" ? null : metas.get(name)!));
    if (!def.inPlace(n, ins)) return;
    for (const [v, root] of owner) if (root === to) owner.set(v, from);
    from.last = to.last;
  });
}
