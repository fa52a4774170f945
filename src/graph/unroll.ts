/**
 * What the plan unrolls when it is made, as the nodes they amount to: the
 * sequence and optional ops (a sequence is a list of value names), SequenceMap
 * and Scan (their bodies once per element), and Loop (an iteration at a time,
 * each followed by a marker node that decides the next). Body values are
 * renamed `name@t` per pass; stacked outputs are Unsqueeze + Concat.
 */
import { Attrs, type Branch, describeNode, type Node } from "./ir.ts";
import { fail, type Meta } from "./ops/op.ts";

type AttrValueLike = number | string | number[];

/** A node the plan adds in `owner`'s place (named after it, opset 13 forms). */
function plannedNode(
  owner: Node,
  op: string,
  inputs: string[],
  outputs: string[],
  attrs: [string, AttrValueLike][] = [],
): Node {
  return {
    op,
    domain: "",
    name: `${owner.name}/${op} ${outputs[0]}`,
    inputs,
    outputs,
    attrs: new Attrs(new Map(attrs) as never, `${op} of ${describeNode(owner)}`),
    opset: 13,
  };
}

/** A body's constants as known values. */
function bodyConstants(body: Branch, metas: Map<string, Meta>): void {
  for (const [name, t] of body.constants) {
    metas.set(name, { type: t.type, dims: t.dims, data: t.data });
  }
}

/**
 * One pass `t` of a body: its nodes into `out`, their values renamed `name@t`, its inputs
 * as `rename` maps them. Returns the mapping for the body's outputs (inputs and outer values
 * pass as they are).
 */
function bodyPass(
  body: Branch,
  rename: Map<string, string>,
  t: number,
  out: Node[],
): (v: string) => string {
  const at = (v: string) => (v === "" ? "" : rename.get(v) ?? v);
  for (const b of body.nodes) {
    for (const o of b.outputs) if (o !== "") rename.set(o, `${o}@${t}`);
    out.push({ ...b, inputs: b.inputs.map(at), outputs: b.outputs.map(at) });
  }
  return at;
}

/** `values` stacked along a new `axis` into `name`: each Unsqueezed, then Concatenated. */
function stacked(
  owner: Node,
  values: readonly string[],
  name: string,
  axis: number,
  metas: Map<string, Meta>,
  out: Node[],
): void {
  const axes = `${name}/stack axis`;
  metas.set(axes, { type: "int64", dims: [1], data: new BigInt64Array([BigInt(axis)]) });
  const rows = values.map((v, i) => {
    const u = `${name}/row@${i}`;
    out.push(plannedNode(owner, "Unsqueeze", [v, axes], [u]));
    return u;
  });
  out.push(plannedNode(owner, "Concat", rows, [name], [["axis", axis]]));
}

/**
 * A sequence op as the nodes (or none) it amounts to, its sequence updated: positions must
 * be known when the plan is made (a keyed input's included).
 */
export function expandSequence(
  n: Node,
  metas: Map<string, Meta>,
  sequences: Map<string, string[]>,
): Node[] {
  const out: Node[] = [];
  const node = (op: string, inputs: string[], outputs: string[], attrs: [string, number][] = []) =>
    out.push(plannedNode(n, op, inputs, outputs, attrs));
  const list = (i: number): string[] => {
    const seq = sequences.get(n.inputs[i]);
    if (!seq) fail(n, `input ${i} is not a sequence made in the graph`);
    return seq;
  };
  const position = (i: number, length: number, dflt: number, insert = false): number => {
    const name = n.inputs[i] ?? "";
    if (name === "") return dflt;
    const p = known(metas.get(name));
    if (p === null) fail(n, "sequence positions must be known when the plan is made");
    const at = p < 0 ? p + length : p;
    if (at < 0 || at > length - (insert ? 0 : 1)) {
      fail(n, `position ${p} is outside a sequence of ${length}`);
    }
    return at;
  };
  const constant = (name: string, values: number[], dims = [values.length]) =>
    metas.set(name, { type: "int64", dims, data: BigInt64Array.from(values, (v) => BigInt(v)) });
  const result = n.outputs[0];
  switch (n.op) {
    case "SequenceEmpty":
      sequences.set(result, []);
      break;
    case "SequenceConstruct":
      sequences.set(result, n.inputs.slice());
      break;
    case "SequenceInsert": {
      const seq = list(0).slice();
      seq.splice(position(2, seq.length, seq.length, true), 0, n.inputs[1]);
      sequences.set(result, seq);
      break;
    }
    case "SequenceErase": {
      const seq = list(0).slice();
      seq.splice(position(1, seq.length, seq.length - 1), 1);
      sequences.set(result, seq);
      break;
    }
    case "SequenceAt": {
      const seq = list(0);
      node("Identity", [seq[position(1, seq.length, 0)]], [result]);
      break;
    }
    case "SequenceLength":
      constant(result, [list(0).length], []);
      break;
    case "ConcatFromSequence": {
      const seq = list(0);
      if (seq.length === 0) fail(n, "an empty sequence has nothing to concatenate");
      const axis = n.attrs.int("axis", 0), newAxis = n.attrs.int("new_axis", 0) === 1;
      let parts = seq;
      if (newAxis) {
        const rank = metas.get(seq[0])!.dims.length + 1, at = axis < 0 ? axis + rank : axis;
        const axes = `${result}/axes`;
        constant(axes, [at]);
        parts = seq.map((v, i) => {
          const u = `${result}/part@${i}`;
          node("Unsqueeze", [v, axes], [u]);
          return u;
        });
      }
      node("Concat", parts, [result], [["axis", axis]]);
      break;
    }
    case "SplitToSequence": {
      const x = metas.get(n.inputs[0])!, rank = x.dims.length;
      const a0 = n.attrs.int("axis", 0), axis = a0 < 0 ? a0 + rank : a0;
      const size = x.dims[axis];
      let sizes: number[];
      const split = n.inputs[1] ? metas.get(n.inputs[1])! : null;
      if (split) {
        if (split.data === null) fail(n, "split must be known when the plan is made");
        const v = Array.from(split.data, Number);
        if (split.dims.length === 0) {
          sizes = Array.from(
            { length: Math.ceil(size / v[0]) },
            (_, i) => Math.min(v[0], size - i * v[0]),
          );
        } else sizes = v;
      } else sizes = new Array(size).fill(1);
      const keep = split !== null || n.attrs.int("keepdims", 1) === 1;
      const sizesName = `${result}/sizes`, axes = `${result}/axes`;
      constant(sizesName, sizes);
      constant(axes, [axis]);
      const parts = sizes.map((_, i) => `${result}/part@${i}`);
      node("Split", [n.inputs[0], sizesName], parts, [["axis", axis]]);
      if (!keep) {
        const squeezed = parts.map((p) => `${p}/squeezed`);
        parts.forEach((p, i) => node("Squeeze", [p, axes], [squeezed[i]]));
        sequences.set(result, squeezed);
      } else sequences.set(result, parts);
      break;
    }
    // Optionals: a list of none or one element (a tensor; an optional sequence is refused).
    case "Optional": {
      const x = n.inputs[0] ?? "";
      if (sequences.has(x)) fail(n, "an optional sequence is not supported");
      sequences.set(result, x === "" ? [] : [x]);
      break;
    }
    case "OptionalHasElement": {
      // Opset 18: a plain tensor has its element; an absent input has none.
      const x = n.inputs[0] ?? "", opt = sequences.get(x);
      const has = x === "" ? false : opt ? opt.length > 0 : true;
      metas.set(result, { type: "bool", dims: [], data: Uint8Array.of(has ? 1 : 0) });
      break;
    }
    case "OptionalGetElement": {
      const x = n.inputs[0] ?? "", opt = sequences.get(x);
      if (opt && opt.length === 0) fail(n, "the optional is empty");
      node("Identity", [opt ? opt[0] : x], [result]);
      break;
    }
    default:
      fail(n, "is not a sequence op the plan knows");
  }
  return out;
}

/**
 * A SequenceMap as its body's nodes once per element of its input sequence (renamed
 * `name@t`), each additional input given whole or, when a sequence of the same length,
 * element by element; each body output's values make an output sequence.
 */
export function expandSequenceMap(
  n: Node,
  metas: Map<string, Meta>,
  sequences: Map<string, string[]>,
): Node[] {
  const body = n.branches![0], own = n.ownInputs!;
  const first = sequences.get(n.inputs[0]);
  if (!first) fail(n, "input 0 is not a sequence made in the graph");
  const L = first.length;
  const extra = n.inputs.slice(1, own).map((v) => {
    const seq = sequences.get(v);
    if (seq && seq.length !== L) fail(n, `a sequence of ${seq.length} beside one of ${L}`);
    return seq ?? null;
  });
  if (L > MAX_LOOP_ITERATIONS) {
    fail(n, `more than ${MAX_LOOP_ITERATIONS} elements are not supported`);
  }
  bodyConstants(body, metas);
  const out: Node[] = [];
  const lists: string[][] = body.outputs.map(() => []);
  for (let t = 0; t < L; t++) {
    const rename = new Map<string, string>([[body.inputs[0], first[t]]]);
    extra.forEach((seq, j) => rename.set(body.inputs[1 + j], seq ? seq[t] : n.inputs[1 + j]));
    const at = bodyPass(body, rename, t, out);
    body.outputs.forEach((v, k) => lists[k].push(at(v)));
  }
  n.outputs.forEach((name, k) => {
    if (name) sequences.set(name, lists[k]);
  });
  return out;
}

/** Most iterations a Loop is unrolled to. */
const MAX_LOOP_ITERATIONS = 1024;

/** A Loop being unrolled: its node, the next iteration, the values carried and scanned. */
export interface LoopState {
  loop: Node;
  marker: Node;
  i: number;
  max: number;
  cond: string;
  carried: string[];
  scans: string[][];
}

/** A known scalar (data, one element), as a number; null when unknown. */
function known(m: Meta | null | undefined): number | null {
  return m && m.data !== null && m.data.length === 1 ? Number(m.data[0]) : null;
}

/**
 * The first nodes a Loop runs as: M (absent: no bound) and the condition (absent: true)
 * must be known when the plan is made, and so must each iteration's condition out; the
 * body's nodes are spliced in per iteration, their values renamed `name@i`.
 */
export function startLoop(
  n: Node,
  ins: readonly (Meta | null)[],
  metas: Map<string, Meta>,
  loops: Map<Node, LoopState>,
): Node[] {
  const body = n.branches![0], carried = n.ownInputs! - 2;
  const m = ins[0] === null ? Infinity : known(ins[0]);
  const c = ins[1] === null ? 1 : known(ins[1]);
  if (m === null || c === null) {
    fail(n, "its trip count and condition must be known when the plan is made");
  }
  bodyConstants(body, metas);
  const scans = body.outputs.length - 1 - carried;
  const marker: Node = { ...n, op: "LoopStep", inputs: [], outputs: [], branches: undefined };
  const state: LoopState = {
    loop: n,
    marker,
    i: 0,
    max: m,
    cond: "",
    carried: n.inputs.slice(2, 2 + carried),
    scans: Array.from({ length: scans }, () => []),
  };
  loops.set(marker, state);
  if (m <= 0 || c === 0) return finishLoop(state, metas);
  return iteration(state, metas, n.inputs[1] || null);
}

/** Iteration state.i's nodes, then the marker. */
function iteration(s: LoopState, metas: Map<string, Meta>, cond: string | null): Node[] {
  const body = s.loop.branches![0], i = s.i;
  if (i >= MAX_LOOP_ITERATIONS) {
    fail(s.loop, `more than ${MAX_LOOP_ITERATIONS} iterations are not supported`);
  }
  const rename = new Map<string, string>();
  const iterName = `${s.loop.name}/iteration@${i}`;
  metas.set(iterName, { type: "int64", dims: [], data: new BigInt64Array([BigInt(i)]) });
  rename.set(body.inputs[0], iterName);
  if (cond) rename.set(body.inputs[1], cond);
  else {
    const t = `${s.loop.name}/true@${i}`;
    metas.set(t, { type: "bool", dims: [], data: Uint8Array.of(1) });
    rename.set(body.inputs[1], t);
  }
  s.carried.forEach((v, k) => rename.set(body.inputs[2 + k], v));
  const nodes: Node[] = [];
  const at = bodyPass(body, rename, i, nodes);
  s.cond = at(body.outputs[0]);
  const carried = s.carried.length;
  s.carried = body.outputs.slice(1, 1 + carried).map(at);
  body.outputs.slice(1 + carried).forEach((v, k) => s.scans[k].push(at(v)));
  return [...nodes, s.marker];
}

/** At a marker: the next iteration, or the Loop's outputs. */
export function loopStep(s: LoopState, metas: Map<string, Meta>): Node[] {
  s.i++;
  const c = known(metas.get(s.cond));
  if (c === null) {
    fail(s.loop, `iteration ${s.i - 1}'s condition is not known when the plan is made`);
  }
  if (c !== 0 && s.i < s.max) return iteration(s, metas, s.cond);
  return finishLoop(s, metas);
}

/** The final carried values as the Loop's first outputs, each scan output stacked along axis 0. */
function finishLoop(s: LoopState, metas: Map<string, Meta>): Node[] {
  const n = s.loop, out: Node[] = [];
  s.carried.forEach((v, k) => {
    if (n.outputs[k]) out.push(plannedNode(n, "Identity", [v], [n.outputs[k]]));
  });
  s.scans.forEach((list, k) => {
    const name = n.outputs[s.carried.length + k];
    if (!name) return;
    if (list.length === 0) fail(n, "a scan output of zero iterations is not supported");
    stacked(n, list, name, 0, metas, out);
  });
  return out;
}

/**
 * A Scan as the nodes it runs: per iteration t, each scan input's element t (or L − 1 − t
 * in reverse) Gathered along its axis, the body's nodes renamed `name@t`, the states carried;
 * then the final states as the first outputs and each scan output's elements stacked
 * (Unsqueeze, Concat) along its axis, reversed for direction 1.
 */
export function expandScan(
  n: Node,
  ins: readonly (Meta | null)[],
  metas: Map<string, Meta>,
): Node[] {
  const body = n.branches![0], own = n.ownInputs!, a = n.attrs;
  const M = a.int("num_scan_inputs", 0), N = own - M, K = n.outputs.length - N;
  const inAxes = a.ints("scan_input_axes") ?? new Array(M).fill(0);
  const inDirs = a.ints("scan_input_directions") ?? new Array(M).fill(0);
  const outAxes = a.ints("scan_output_axes") ?? new Array(K).fill(0);
  const outDirs = a.ints("scan_output_directions") ?? new Array(K).fill(0);
  if (inAxes.length !== M || inDirs.length !== M || outAxes.length !== K || outDirs.length !== K) {
    fail(n, "scan_input_*/scan_output_* must have one value per scan input/output");
  }
  const scanned = ins.slice(N, own) as Meta[];
  const axes = scanned.map((m, j) => {
    const r = m.dims.length, ax = inAxes[j] < 0 ? inAxes[j] + r : inAxes[j];
    if (!(ax >= 0 && ax < r)) fail(n, `scan_input_axes[${j}] ${inAxes[j]} is outside rank ${r}`);
    return ax;
  });
  const L = scanned[0].dims[axes[0]];
  if (scanned.some((m, j) => m.dims[axes[j]] !== L)) {
    fail(n, "its scan inputs differ in length along their axes");
  }
  if (!(L >= 1)) fail(n, "a scan of zero iterations is not supported");
  if (L > MAX_LOOP_ITERATIONS) {
    fail(n, `more than ${MAX_LOOP_ITERATIONS} iterations are not supported`);
  }
  bodyConstants(body, metas);
  const out: Node[] = [];
  let states = n.inputs.slice(0, N);
  const lists: string[][] = Array.from({ length: K }, () => []);
  for (let t = 0; t < L; t++) {
    const rename = new Map<string, string>();
    states.forEach((v, k) => rename.set(body.inputs[k], v));
    n.inputs.slice(N, own).forEach((v, j) => {
      const index = `${n.name}/index ${j}@${t}`, element = `${n.name}/element ${j}@${t}`;
      const at = inDirs[j] ? L - 1 - t : t;
      metas.set(index, { type: "int64", dims: [], data: new BigInt64Array([BigInt(at)]) });
      out.push(plannedNode(n, "Gather", [v, index], [element], [["axis", axes[j]]]));
      rename.set(body.inputs[N + j], element);
    });
    const at = bodyPass(body, rename, t, out);
    states = body.outputs.slice(0, N).map(at);
    body.outputs.slice(N).forEach((v, k) => lists[k].push(at(v)));
  }
  states.forEach((v, k) => {
    if (n.outputs[k]) out.push(plannedNode(n, "Identity", [v], [n.outputs[k]]));
  });
  lists.forEach((list, k) => {
    const name = n.outputs[N + k];
    if (name) stacked(n, outDirs[k] ? list.slice().reverse() : list, name, outAxes[k], metas, out);
  });
  return out;
}
