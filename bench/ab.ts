/**
 * Two checkouts of neural-jit in one process, one workload, taking turns
 * block by block: how a change measures where separate processes minutes
 * apart cannot tell a few percent from this host's drift (the same layer
 * 71% and 85% of the peak in runs minutes apart). Each checkout's module
 * graph is its own (its Jit, its pool, its code cache stamp); the inputs
 * are shared; the outputs must agree bit for bit, or the run says so.
 *
 *   deno run -A bench/ab.ts --a 06d4a9e --b . --gemm 64x768x3072 [--panels] [--transB] [--threads 2]
 *   deno run -A bench/ab.ts --a HEAD~1 --b . --gemm 128x3072x768 --panels --bias --activation gelu
 *   deno run -A bench/ab.ts --a HEAD~1 --b . --conv 1,64,80,80,64,2,2 --transposed
 *   deno run -A bench/ab.ts --a HEAD~1 --b . --conv 1,96,56,56,24,1,1
 *   deno run -A bench/ab.ts --a HEAD~1 --b . --conv 1,64,56,56,256,1,1 --residual --rotate 4
 *   deno run -A bench/ab.ts --a HEAD~1 --b . --conv 1,960,7,7,960,3,1,960,1 --activation clip
 *   deno run -A bench/ab.ts --a HEAD~1 --b . --model cnn [--threads 2]   # runSync, zoo models
 *   deno run -A bench/ab.ts --a HEAD~1 --b . --model light_squeezenet.onnx   # a model file (float32 inputs of fixed dims)
 *   deno run -A bench/ab.ts --a HEAD~1 --b . --unary gelu [--n 393216] [--span 8]   # jit.unary over n floats in ±span
 *   deno run -A bench/ab.ts --a HEAD~1 --b . --softmax 1536x128 [--log] [--masked]   # jit.softmax, rows×cols
 *   deno run -A bench/ab.ts --a HEAD~1 --b . --binary mul,channel [--n 67108864]   # jit.binary: same, scalar, row (1024) or channel (NCHW, 64 × 256)
 *   deno run -A bench/ab.ts --a HEAD~1 --b . --norm 128x768 [--rms] [--residual]   # jit.layerNorm (scale, bias) or rmsNorm (scale)
 *   deno run -A bench/ab.ts --a HEAD~1 --b . --resize 3,512,512,224,224,linear,aa   # jit.resize: c,h,w,outH,outW,mode[,aa]
 *   deno run -A bench/ab.ts --a HEAD~1 --b . --pool average,576,14,3,1,1   # jit.pool: kind,c,h=w,k,stride,pad
 *
 * --a/--b: a directory holding a checkout, or a git revision of this one
 * (checked out under /tmp/njit-ab/ as a detached worktree, reused by later
 * runs; `rm -r /tmp/njit-ab && git worktree prune` forgets them). Each block is `--calls` calls (default: ~5 ms of work); `--blocks`
 * (default 40) each, alternating, the order swapped every block. Prints
 * each side's median and fastest-decile µs per call and B's median over
 * A's with the spread of the per-pair ratios (their middle half). Both
 * sides read the same input arrays (each writes its own outputs), every
 * array starting on a page: made per side, the side made second ran
 * slower (Zen 3, `--conv 1,128,128,128,32,3,1`, A/A 1.075-1.087, 0.872
 * with the sides made the other way round; shared, 1.010-1.013). A/A runs (one revision
 * on both sides, Zen 5, 2 vCPUs) read 0.98-1.01 over a conv and a split
 * GEMM: a difference under ~2% is not resolved. With `--threads 2` each checkout is a module
 * graph of its own, so each side has its own pool (`sharedPool` is one per module instance), both
 * pools' workers kept off the caller's CPU: calls of tens of µs can then read far slower on one
 * side. Two worktrees of one commit (`--a DIR1 --b DIR2`, ab/stem-cv, a 16-channel 3×3/2 stem at
 * 2 threads) read 40.6 against 70.8 µs (swapped, 50.8 against 70.3: B the slower side both
 * ways), where one directory on both sides (one module, one pool) read 39.3 and 40.1; the CNN (`--model cnn`) and a 3×3 64→64 on 56² (~600 µs) read ×0.995 the
 * same way. Check a short call's 2-thread ratio against two worktrees of one commit (or use
 * `bench/tune_candidates.ts`, one Jit).
 *
 * --offset BYTES: the inputs start that many bytes past a line (16: where a large
 * `new Float32Array` lands here), the outputs still on one; --out-offset BYTES the same for
 * the outputs.
 *
 * --conv n,c,h,w,oc,k,s[,group[,pad]]: a k×k convolution of stride s, pad on
 * every side (default 0), groups (default 1: c = oc = group is depthwise);
 * `--activation` relu (the default), clip (to [0, 6]), none, or a unary op;
 * `--nhwc`: x, y and the shortcut NHWC.
 *
 * @module
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    a: { type: "string" },
    b: { type: "string", default: "." },
    gemm: { type: "string" },
    panels: { type: "boolean", default: false },
    // --gemm: B stored as Bᵀ (n rows of k, a Linear layer's weights).
    transB: { type: "boolean", default: false },
    // --gemm: a bias per column and an activation in the call's epilogue (a model's Linear).
    // --conv: the activation after the bias (relu unless given).
    bias: { type: "boolean", default: false },
    activation: { type: "string" },
    conv: { type: "string" },
    transposed: { type: "boolean", default: false },
    nhwc: { type: "boolean", default: false },
    // --conv: a shortcut added before the ReLU (a ResNet block's last convolution); --norm: y = norm(x + r).
    residual: { type: "boolean", default: false },
    // --conv: N sets of x, y and the shortcut taken in turn (cold, as a model's layer finds
    // them: beyond L3 when N sets outgrow it); the weights stay one.
    rotate: { type: "string", default: "1" },
    model: { type: "string" },
    unary: { type: "string" },
    // --binary OP,PATTERN: a (n floats) op b, b of a's shape ("same"), one value ("scalar"), a
    // row of 1024 down the rows ("row"), or a value per channel of 64 planes of 256 ("channel").
    binary: { type: "string" },
    softmax: { type: "string" },
    norm: { type: "string" },
    rms: { type: "boolean", default: false },
    log: { type: "boolean", default: false },
    // --softmax: each row's last quarter −10000, as a padding mask adds to attention scores.
    masked: { type: "boolean", default: false },
    resize: { type: "string" },
    pool: { type: "string" },
    n: { type: "string", default: "393216" },
    // --unary: x over −span…span (log: 0…span).
    span: { type: "string", default: "8" },
    threads: { type: "string", default: "1" },
    blocks: { type: "string", default: "40" },
    // Bytes past a cache line every input starts (0-60, a multiple of 4): a large `new
    // Float32Array` here sits 16 bytes past one, as a caller's operands do.
    offset: { type: "string", default: "0" },
    // The same for every output (0: on a line).
    "out-offset": { type: "string", default: "0" },
    calls: { type: "string" },
  },
});
const usage = "usage: --a REV|DIR [--b REV|DIR] (--gemm MxNxK [--panels] [--transB] | --conv " +
  "n,c,h,w,oc,k,s[,group[,pad]] [--transposed] [--nhwc] [--activation A] | --model ZOO-NAME|FILE.onnx | --unary OP [--n N] | --binary OP,PATTERN [--n N] | --softmax RxC [--log] | --norm RxC [--rms] [--residual] | --resize c,h,w,outH,outW,mode[,aa] | --pool kind,c,hw,k,s,p) [--threads N] [--blocks N] [--calls N] " +
  "[--offset BYTES] [--out-offset BYTES]";
if (
  values.a === undefined ||
  [
    values.gemm,
    values.conv,
    values.model,
    values.unary,
    values.binary,
    values.softmax,
    values.norm,
    values.resize,
    values.pool,
  ].every((v) => !v)
) {
  console.error(usage);
  Deno.exit(2);
}
const threads = Number(values.threads), blocks = Number(values.blocks);
const here = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** A checkout's directory: `spec` itself when it holds mod.ts, else a worktree of revision `spec`. */
function checkout(spec: string): string {
  try {
    Deno.statSync(`${spec}/mod.ts`);
    return Deno.realPathSync(spec);
  } catch { /* a revision */ }
  const git = (...args: string[]) => {
    const r = new Deno.Command("git", { args: ["-C", here, ...args] }).outputSync();
    if (!r.success) throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
    return new TextDecoder().decode(r.stdout).trim();
  };
  const rev = git("rev-parse", "--verify", `${spec}^{commit}`);
  const dir = `/tmp/njit-ab/${rev.slice(0, 12)}`;
  try {
    Deno.statSync(`${dir}/mod.ts`);
  } catch {
    git("worktree", "add", "--detach", "-f", dir, rev);
  }
  return dir;
}

const offset = Number(values.offset), outOffset = Number(values["out-offset"]);
for (const [name, o] of [["--offset", offset], ["--out-offset", outOffset]] as const) {
  if (!(o >= 0 && o < 64 && o % 4 === 0)) {
    console.error(`${name} must be 0-60 bytes, a multiple of 4, got ${o}`);
    Deno.exit(2);
  }
}

/** The inputs made so far, by length and seed: both sides read the same arrays. */
const inputs = new Map<string, Float32Array>();

/** Seeded floats in [-0.5, 0.5), `--offset` bytes past a cache line (lineAligned), shared. */
const rand = (n: number, seed = 1) => {
  const key = `${n},${seed}`, made = inputs.get(key);
  if (made) return made;
  let s = seed >>> 0;
  const out = onLine(n + offset / 4).subarray(offset / 4);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  inputs.set(key, out);
  return out;
};

/** f over `from`, once per key: a mapped input both sides share, as rand's. */
const mapped = (key: string, from: Float32Array, f: (e: number) => number) => {
  const made = inputs.get(key);
  if (made) return made;
  const out = onLine(from.length + offset / 4).subarray(offset / 4);
  for (let i = 0; i < from.length; i++) out[i] = f(from[i]);
  inputs.set(key, out);
  return out;
};

/**
 * `n` zeroed floats `--out-offset` bytes past a cache line: each side's output at the same
 * offset into its lines (an output 16 bytes off a line costs its stores a split in every
 * vector).
 */
function lineAligned(n: number): Float32Array {
  return onLine(n + outOffset / 4).subarray(outOffset / 4);
}

/**
 * `n` zeroed floats starting on a page: every operand of either side then sits at the same
 * offset into its pages (and lines), so the two sides' loads and stores alias alike (4 KiB
 * aliasing, L1 sets). Starting them only on lines, an A/A run (one revision both sides) read
 * B / A 1.087 on `--conv 1,128,128,128,32,3,1` (Zen 3, stop 123).
 */
function onLine(n: number): Float32Array {
  const buf = new Float32Array(n + 1024);
  const at = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
  const skip = ((4096 - (at % 4096)) % 4096) / 4;
  return buf.subarray(skip, skip + n);
}

interface Side {
  name: string;
  call: () => void;
  out: () => Float32Array;
  close: () => void | Promise<void>;
}

/** A model of `dir`'s zoo by name. */
async function zooModel(
  dir: string,
  key: string,
): Promise<{ bytes: Uint8Array; feeds: Record<string, unknown> }> {
  const { ZOO } = await import(`file://${dir}/tools/model_zoo.ts`);
  const make = ZOO[key];
  if (make === undefined) throw new Error(`no model ${key} in ${dir}'s zoo`);
  return make();
}

/**
 * A model file: every float32 input of fixed dims fed numbers from a fixed seed, the same on
 * both sides (each side wraps them in its own Tensor).
 */
async function fileModel(
  // deno-lint-ignore no-explicit-any
  lib: any,
  file: string,
): Promise<{ bytes: Uint8Array; feeds: Record<string, unknown> }> {
  const bytes = Deno.readFileSync(file);
  const s = await lib.InferenceSession.create(bytes);
  const feeds: Record<string, unknown> = {};
  for (const meta of s.inputMetadata) {
    const dims = meta.shape as number[];
    if (meta.type !== "float32" || dims.some((d) => typeof d !== "number")) {
      throw new Error(`--model ${file}: input ${meta.name} is not float32 of fixed dims`);
    }
    const n = dims.reduce((a, b) => a * b, 1);
    feeds[meta.name] = new lib.Tensor("float32", rand(n, 8), dims);
  }
  s.release();
  return { bytes, feeds };
}

/** The workload on the checkout at `dir`. */
async function side(name: string, dir: string): Promise<Side> {
  const lib = await import(`file://${dir}/mod.ts`);
  if (values.model) {
    const m = values.model.endsWith(".onnx")
      ? await fileModel(lib, values.model)
      : await zooModel(dir, values.model);
    const s = await lib.InferenceSession.create(m.bytes, {
      intraOpNumThreads: threads,
      tuneBudget: 0,
    });
    let last: Float32Array = new Float32Array(0);
    return {
      name,
      call: () => {
        const r = s.runSync(m.feeds);
        last = r[s.outputNames[0]].data as Float32Array;
      },
      out: () => last,
      close: () => s.release(),
    };
  }
  const jit = new lib.Jit({ threads, tuneBudget: 0 });
  if (values.unary) {
    // Inputs over −8…8 by default (every piece of a piecewise function), over 0…8 for log (its
    // domain), mapped in place (a mapped copy is V8's, wherever it lands).
    const w = Number(values.span);
    const span = values.unary === "log" ? (e: number) => w * (e + 0.5) : (e: number) => 2 * w * e;
    // Mapped once for both sides: rand's array is shared, so mapping it in place per side
    // mapped it twice (±128: e^x's rare lanes on both sides, every figure before this fix).
    const n = Number(values.n), x = mapped(`unary ${values.unary} ${w}`, rand(n, 8), span);
    const y = lineAligned(n);
    return {
      name,
      call: () => jit.unary(values.unary, x, y),
      out: () => y,
      close: () => jit.close(),
    };
  }
  if (values.binary) {
    const [op, pattern] = values.binary.split(",");
    const n = Number(values.n), a = rand(n, 8), y = lineAligned(n);
    const shapes: Record<string, [number[], number[]]> = {
      same: [[n], [n]],
      scalar: [[n], [1]],
      row: [[n / 1024, 1024], [1024]],
      channel: [[n / (64 * 256), 64, 256], [1, 64, 1]],
    };
    const shape = shapes[pattern];
    if (shape === undefined || !Number.isInteger(shape[0][0])) {
      throw new Error(
        `--binary ${values.binary}: a pattern of same, scalar, row, channel dividing n`,
      );
    }
    const [aDims, bDims] = shape;
    const b = rand(bDims.reduce((p, d) => p * d, 1), 9);
    return {
      name,
      call: () => jit.binary(op, a, aDims, b, bDims, y),
      out: () => y,
      close: () => jit.close(),
    };
  }
  if (values.softmax) {
    // Scores over −8…8, as attention's are.
    const [rows, cols] = values.softmax.split("x").map(Number);
    const x = rand(rows * cols, 8).map((e, i) =>
      values.masked && i % cols >= cols * 0.75 ? -1e4 : 16 * e
    );
    const y = lineAligned(rows * cols);
    return {
      name,
      call: () => jit.softmax(x, y, { rows, cols, log: values.log }),
      out: () => y,
      close: () => jit.close(),
    };
  }
  if (values.norm) {
    const [rows, cols] = values.norm.split("x").map(Number);
    const x = rand(rows * cols, 9), residual = values.residual ? rand(rows * cols, 10) : undefined;
    const scale = rand(cols, 11).map((e) => 1 + e), bias = rand(cols, 12);
    const y = lineAligned(rows * cols);
    return {
      name,
      call: values.rms
        ? () => jit.rmsNorm(x, y, { rows, cols, residual, scale })
        : () => jit.layerNorm(x, y, { rows, cols, residual, scale, bias }),
      out: () => y,
      close: () => jit.close(),
    };
  }
  if (values.resize) {
    const [c, h, w, outH, outW] = values.resize.split(",").slice(0, 5).map(Number);
    const [mode, aa] = values.resize.split(",").slice(5);
    const x = rand(c * h * w, 8), y = lineAligned(c * outH * outW);
    const o = { n: 1, c, h, w, outH, outW, mode, ...(aa === "aa" ? { antialias: true } : {}) };
    return {
      name,
      call: () => jit.resize(x, y, o),
      out: () => y,
      close: () => jit.close(),
    };
  }
  if (values.pool) {
    const [kind, ...rest] = values.pool.split(",");
    const [c, hw, k, s, p] = rest.map(Number);
    const oh = Math.floor((hw + 2 * p - k) / s) + 1;
    const x = rand(c * hw * hw, 8), y = lineAligned(c * oh * oh);
    const o = { n: 1, c, h: hw, w: hw, kernel: [k, k], strides: [s, s], pads: [p, p, p, p] };
    return {
      name,
      call: () => jit.pool(kind, x, y, o),
      out: () => y,
      close: () => jit.close(),
    };
  }
  if (values.gemm) {
    const [m, n, k] = values.gemm.split("x").map(Number);
    const a = rand(m * k, 1), b = rand(k * n, 2), c = lineAligned(m * n);
    const transB = values.transB;
    const B = values.panels ? jit.packB(b, { k, n, transB, layout: "panels" }) : b;
    const o = {
      m,
      n,
      k,
      ...(transB && !values.panels ? { transB } : {}),
      ...(values.bias ? { bias: rand(n, 6) } : {}),
      ...(values.activation ? { activation: values.activation } : {}),
    };
    return {
      name,
      call: () => jit.gemm(a, B, c, o),
      out: () => c,
      close: () => jit.close(),
    };
  }
  const [n, c, h, w, oc, k, s, group = 1, pad = 0] = values.conv!.split(",").map(Number);
  const act = values.activation ?? "relu";
  const o = {
    n,
    c,
    h,
    w,
    outChannels: oc,
    kernel: [k, k],
    strides: [s, s],
    pads: [pad, pad, pad, pad],
    group,
    bias: rand(oc, 3),
    ...(values.nhwc ? { layout: "nhwc" as const } : {}),
    ...(act === "none"
      ? {}
      : { activation: act === "clip" ? { op: "clip" as const, min: 0, max: 6 } : act }),
  };
  const sets = Math.max(1, Number(values.rotate));
  const x = rand(n * c * h * w, 4), wt = rand((c / group) * oc * k * k, 5);
  const packed = jit.packConvWeights(wt, {
    outChannels: oc,
    c,
    kernel: [k, k],
    group,
    transposed: values.transposed,
  });
  if (values.transposed) {
    const y = lineAligned(n * oc * (s * (h - 1) + k - 2 * pad) * (s * (w - 1) + k - 2 * pad));
    return {
      name,
      call: () => jit.convTranspose2d(x, packed, y, o),
      out: () => y,
      close: () => jit.close(),
    };
  }
  const oh = Math.floor((h + 2 * pad - k) / s) + 1, ow = Math.floor((w + 2 * pad - k) / s) + 1;
  // Set 0 is the one compared; every set holds the same inputs.
  const copy = (a: Float32Array) => {
    const b = onLine(a.length + offset / 4).subarray(offset / 4);
    b.set(a);
    return b;
  };
  const xs = Array.from({ length: sets }, (_, i) => i === 0 ? x : copy(x));
  const ys = Array.from({ length: sets }, () => lineAligned(n * oc * oh * ow));
  const shortcut = rand(n * oc * oh * ow, 7);
  const os = Array.from(
    { length: sets },
    (_, i) => values.residual ? { ...o, residual: i === 0 ? shortcut : copy(shortcut) } : o,
  );
  let next = 0;
  return {
    name,
    call: () => {
      jit.conv2d(xs[next], packed, ys[next], os[next]);
      next = (next + 1) % sets;
    },
    out: () => ys[0],
    close: () => jit.close(),
  };
}

const dirs = [checkout(values.a!), checkout(values.b!)];
const sides = [await side(`A ${dirs[0]}`, dirs[0]), await side(`B ${dirs[1]}`, dirs[1])];
// Warm-up (compiles, caches), then the calls per block: ~5 ms of A's work unless given.
for (const s of sides) for (let i = 0; i < 20; i++) s.call();
let calls = Number(values.calls ?? 0);
if (!calls) {
  const t0 = performance.now();
  for (let i = 0; i < 10; i++) sides[0].call();
  calls = Math.max(1, Math.round(5 / ((performance.now() - t0) / 10)));
}
const times: number[][] = [[], []];
for (let b = 0; b < blocks; b++) {
  for (const i of b % 2 ? [1, 0] : [0, 1]) {
    const t0 = performance.now();
    for (let k = 0; k < calls; k++) sides[i].call();
    times[i].push(((performance.now() - t0) / calls) * 1000);
  }
}
const sorted = (x: number[]) => [...x].sort((p, q) => p - q);
const at = (x: number[], q: number) => sorted(x)[Math.min(x.length - 1, Math.floor(q * x.length))];
const ratios = times[1].map((t, i) => t / times[0][i]);
const what = values.gemm
  ? `gemm ${values.gemm}${values.transB ? " Bᵀ" : ""}${values.panels ? " (B in panels)" : ""}`
  : values.conv
  ? `${values.transposed ? "convTranspose2d" : "conv2d"} ${values.conv}${
    values.residual ? " +residual" : ""
  }${values.nhwc ? " NHWC" : ""}${
    Number(values.rotate) > 1 ? `, ${values.rotate} operand sets in turn` : ""
  }`
  : values.unary
  ? `unary ${values.unary} over ${values.n} floats`
  : values.binary
  ? `binary ${values.binary} over ${values.n} floats`
  : values.softmax
  ? `${values.log ? "logSoftmax" : "softmax"} ${values.softmax}${values.masked ? ", masked" : ""}`
  : values.norm
  ? `${values.rms ? "rmsNorm" : "layerNorm"} ${values.norm}${values.residual ? " +residual" : ""}`
  : values.resize
  ? `resize ${values.resize}`
  : values.pool
  ? `pool ${values.pool}`
  : `model ${values.model} (runSync)`;
console.log(`${what}, ${threads} thread(s), ${blocks} blocks of ${calls} calls each, alternating`);
sides.forEach((s, i) =>
  console.log(
    `${s.name}: median ${at(times[i], 0.5).toFixed(1)} µs, fastest decile ${
      at(times[i], 0.1).toFixed(1)
    } µs`,
  )
);
console.log(
  `B / A: ${(at(times[1], 0.5) / at(times[0], 0.5)).toFixed(3)} (pairs' ratios: middle half ${
    at(ratios, 0.25).toFixed(3)
  }-${at(ratios, 0.75).toFixed(3)})`,
);
const [p, q] = sides.map((s) => s.out());
const same = p.length === q.length && p.every((v, i) => Object.is(v, q[i]));
console.log(same ? "outputs: the same bits" : "outputs differ");
for (const s of sides) await s.close();
