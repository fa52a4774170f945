import assert from "node:assert/strict";
import { InferenceSession, Jit, Tensor } from "../mod.ts";
import { resnetCnn } from "../tools/model_zoo.ts";
import { rng } from "./helpers/random.ts";
import { affinityCpus, sharedPool } from "../src/native/pool.ts";
import { NativeBlock } from "../src/native/memory.ts";
import { JOB_ISSUER, JOB_PARTS, JOB_PIN, JOB_TID } from "../src/native/pool_code.ts";
import { LIST_PIN_HOLD_MS } from "../src/runtime/policy.ts";
import { libc, threadId } from "../src/native/libc.ts";

const same = (a: Float32Array, b: Float32Array, what: string) => {
  assert.equal(a.length, b.length, what);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) {
    if (ua[i] !== ub[i]) assert.fail(`${what}: element ${i}: ${a[i]} vs ${b[i]}`);
  }
};

/** A few calls of several families, a split GEMM among them, on fixed buffers. */
function calls(jit: Jit, t: Record<string, Float32Array>): void {
  jit.gemm(t.a, t.b, t.c, { m: 96, n: 160, k: 200, bias: t.bias, activation: "gelu" });
  jit.softmax(t.c, t.d, { rows: 96, cols: 160 });
  jit.layerNorm(t.d, t.e, { rows: 96, cols: 160, residual: t.c });
  jit.conv2d(t.img, t.w, t.out, {
    n: 1,
    c: 8,
    h: 20,
    w: 20,
    outChannels: 16,
    kernel: [3, 3],
    pads: [1, 1, 1, 1],
    layout: "nhwc", // transposed around NCHW through scratch tensors the recording holds
  });
}

function tensors(): Record<string, Float32Array> {
  return {
    a: new Float32Array(96 * 200),
    b: new Float32Array(200 * 160),
    bias: new Float32Array(160),
    c: new Float32Array(96 * 160),
    d: new Float32Array(96 * 160),
    e: new Float32Array(96 * 160),
    img: new Float32Array(8 * 400),
    w: new Float32Array(16 * 8 * 9),
    out: new Float32Array(16 * 400),
  };
}

function fill(t: Record<string, Float32Array>, r: () => number): void {
  for (const k of ["a", "b", "bias", "img", "w"]) t[k].forEach((_, i) => t[k][i] = r() * 2 - 1);
}

/** tanh(exp(x)) through a Jit of its own: what a recorded exp-then-tanh pair must give. */
function expThenTanh(x: Float32Array): Float32Array {
  using ref = new Jit();
  const r = new Float32Array(x.length);
  ref.unary("exp", x, r);
  ref.unary("tanh", r, r);
  return r;
}

Deno.test("record: replays run the recorded calls on the operands' current values, same bits, counted as calls", async () => {
  const seed = 4100, r = rng(seed);
  using jit = new Jit({ threads: 2, minPartUs: 0, tuneBudget: 0 });
  using ref = new Jit({ threads: 1, tuneBudget: 0 });
  const t = tensors(), u = tensors();
  fill(t, r);
  const recorded = jit.record(() => calls(jit, t));
  await recorded.done;
  for (let round = 0; round < 6; round++) {
    for (const k of ["a", "b", "bias", "img", "w"]) u[k].set(t[k]);
    calls(ref, u);
    for (const k of ["c", "d", "e", "out"]) same(t[k], u[k], `seed ${seed} round ${round} ${k}`);
    fill(t, r); // new values in the same buffers
    const run = jit.replay(recorded);
    assert.ok(run !== null, `round ${round}: the recording should replay`);
    await run;
  }
  const s = jit.stats();
  assert.equal(s.replays, 6);
  // Every key: its recorded call and six replays.
  for (const k of s.keys) assert.equal(k.calls, 7, k.key);
});

Deno.test("record: replay runs nothing and returns null when the recording cannot run as it was", async () => {
  using jit = new Jit({ cacheCapacity: 2, tuneBudget: 0 });
  const x = new Float32Array(64).fill(0.5), y = new Float32Array(64), z = new Float32Array(32);
  const rec = jit.record(() => {
    jit.unary("exp", x, y);
    jit.unary("tanh", y, y);
  });
  await rec.done;
  const expected = expThenTanh(x)[0];
  assert.equal(y[0], expected);
  // Still running: a second run of the same list waits for a new recording.
  y.fill(0);
  const first = jit.replay(rec);
  assert.ok(first !== null);
  assert.equal(jit.replay(rec), null);
  await first;
  assert.equal(y[0], expected);
  // Code it enters evicted (a third kernel in a cache of two): stale, and its calls do not run.
  jit.unary("exp", z, z);
  y.fill(0);
  assert.equal(jit.replay(rec), null);
  assert.equal(y[0], 0);
  const again = jit.record(() => {
    jit.unary("exp", x, y);
    jit.unary("tanh", y, y);
  });
  await again.done;
  assert.equal(y[0], expected);
  // Recordings that tuned on their calls ran once: their timed calls are not repeated.
  using tuning = new Jit({ tuneBudget: 1e6 });
  tuning.unary("gelu", x, y); // compiled: its next calls tune
  tuning.warmup(true);
  const timed = tuning.record(() => tuning.unary("gelu", x, y));
  await timed.done;
  tuning.warmup(false);
  assert.equal(tuning.replay(timed), null);
  // An operand's buffer transferred: stale (the new recording validates it, and throws).
  const moved = new Float32Array(64).fill(0.5), out = new Float32Array(64);
  const held = jit.record(() => jit.unary("exp", moved, out));
  await held.done;
  const before = jit.replay(held);
  assert.ok(before !== null);
  await before;
  const gone = moved.buffer.transfer();
  assert.equal(jit.replay(held), null);
  await assert.rejects(jit.record(() => jit.unary("exp", moved, out)).done, RangeError);
  assert.equal(new Float32Array(gone)[0], 0.5);
  // Resizable buffers: refused while recording, as jit.async refuses them.
  const growing = new Float32Array(new ArrayBuffer(256, { maxByteLength: 512 }));
  await assert.rejects(jit.record(() => jit.unary("exp", growing, growing)).done, /fixed-length/);
  // Closed: nothing replays, a new recording rejects.
  jit.close();
  assert.equal(jit.replay(again), null);
  await assert.rejects(jit.record(() => jit.unary("exp", x, y)).done, /closed/);
  // Bad input while recording: the recording is dropped, the error rejects its run.
  using other = new Jit();
  await assert.rejects(other.record(() => other.unary("exp", x, new Float32Array(3))).done);
  assert.equal(other.stats().calls, 0);
});

Deno.test("recordSync: runs the calls before it returns; replaySync runs them again on the operands' current values, same bits", () => {
  const seed = 4150, r = rng(seed);
  using jit = new Jit({ threads: 2, minPartUs: 0, tuneBudget: 0 });
  using ref = new Jit({ threads: 1, tuneBudget: 0 });
  const t = tensors(), u = tensors();
  fill(t, r);
  const recorded = jit.recordSync(() => calls(jit, t));
  for (let round = 0; round < 6; round++) {
    for (const k of ["a", "b", "bias", "img", "w"]) u[k].set(t[k]);
    calls(ref, u);
    for (const k of ["c", "d", "e", "out"]) same(t[k], u[k], `seed ${seed} round ${round} ${k}`);
    fill(t, r); // new values in the same buffers
    for (const k of ["c", "d", "e", "out"]) t[k].fill(NaN);
    assert.ok(jit.replaySync(recorded), `round ${round}: the recording should replay`);
  }
  const s = jit.stats();
  assert.equal(s.replays, 6);
  for (const k of s.keys) assert.equal(k.calls, 7, k.key);
});

Deno.test("replaySync: runs nothing and returns false when the recording cannot run as it was", async () => {
  using jit = new Jit({ cacheCapacity: 2, tuneBudget: 0 });
  const x = new Float32Array(64).fill(0.5), y = new Float32Array(64), z = new Float32Array(32);
  const pair = () => {
    jit.unary("exp", x, y);
    jit.unary("tanh", y, y);
  };
  const rec = jit.recordSync(pair);
  const expected = expThenTanh(x)[0];
  assert.equal(y[0], expected);
  // An async replay of the same list in flight: not run here meanwhile.
  y.fill(0);
  const inFlight = jit.replay(rec);
  assert.ok(inFlight !== null);
  assert.equal(jit.replaySync(rec), false);
  await inFlight;
  assert.equal(y[0], expected);
  y.fill(0);
  assert.ok(jit.replaySync(rec));
  assert.equal(y[0], expected);
  // Code it enters evicted: stale, and its calls do not run.
  jit.unary("exp", z, z);
  y.fill(0);
  assert.equal(jit.replaySync(rec), false);
  assert.equal(y[0], 0);
  const again = jit.recordSync(pair);
  assert.equal(y[0], expected);
  // A recording that tuned on its calls ran once: its timed calls are not repeated.
  using tuning = new Jit({ tuneBudget: 1e6 });
  tuning.unary("gelu", x, y);
  tuning.warmup(true);
  const timed = tuning.recordSync(() => tuning.unary("gelu", x, y));
  tuning.warmup(false);
  assert.equal(tuning.replaySync(timed), false);
  // Bad input while recording: thrown here, and none of the calls before it ran.
  using other = new Jit();
  const w = new Float32Array(64);
  assert.throws(
    () =>
      other.recordSync(() => {
        other.unary("exp", x, w);
        other.unary("exp", x, new Float32Array(3));
      }),
    RangeError,
  );
  assert.equal(w[0], 0);
  assert.equal(other.stats().calls, 1);
  // A recording made off the loop replays here, and one made here off the loop.
  const offLoop = jit.record(pair);
  await offLoop.done;
  y.fill(0);
  assert.ok(jit.replaySync(offLoop));
  assert.equal(y[0], expected);
  const here = jit.recordSync(pair); // its kernels compiled before: kept
  y.fill(0);
  const there = jit.replay(here);
  assert.ok(there !== null);
  await there;
  assert.equal(y[0], expected);
  // Closed: nothing replays, a new recording throws.
  jit.close();
  assert.equal(jit.replaySync(again), false);
  assert.throws(() => jit.recordSync(pair), /closed/);
});

Deno.test("record: runSync replays its recorded calls; outputs equal a session's that makes every call", async () => {
  const model = resnetCnn({ size: 96, widths: [16, 32], blocks: 1, classes: 10 });
  const make = (replay: boolean) =>
    InferenceSession.create(model.bytes, { intraOpNumThreads: 2, tuneBudget: 0, replay });
  const session = await make(true), twin = await make(false);
  try {
    const r = rng(4250);
    for (let i = 0; i < 6; i++) {
      const image = new Float32Array(3 * 96 * 96).map(() => r() * 2 - 1);
      const feeds = { image: new Tensor("float32", image, [1, 3, 96, 96]) };
      const got = session.runSync(feeds);
      const want = twin.runSync(feeds);
      for (const name of session.outputNames) {
        same(got[name].data as Float32Array, want[name].data as Float32Array, `run ${i} ${name}`);
      }
    }
    // Every run after the first replays each of its stretches (one here: every node native).
    assert.equal(session.offLoopStretches, 1);
    assert.equal(session.kernelStats().replays, 5);
    assert.equal(twin.kernelStats().replays, 0);
  } finally {
    await session.release();
    await twin.release();
  }
});

Deno.test("record: a session's runs replay its recorded calls; outputs equal runSync's for every feed", async () => {
  const model = resnetCnn({ size: 160, widths: [16, 32], blocks: 1, classes: 10 });
  const session = await InferenceSession.create(model.bytes, {
    intraOpNumThreads: 2,
    tuneBudget: 0,
  });
  const twin = await InferenceSession.create(model.bytes, { intraOpNumThreads: 1, tuneBudget: 0 });
  try {
    const r = rng(4200);
    for (let i = 0; i < 6; i++) {
      const image = new Float32Array(3 * 160 * 160).map(() => r() * 2 - 1);
      const feeds = { image: new Tensor("float32", image, [1, 3, 160, 160]) };
      const got = await session.run(feeds);
      const want = twin.runSync(feeds);
      for (const name of session.outputNames) {
        same(got[name].data as Float32Array, want[name].data as Float32Array, `run ${i} ${name}`);
      }
    }
    const stats = session.kernelStats();
    // The first run off the loop records; later ones replay, unless the plan runs inline.
    assert.ok(stats.replays >= 1, `replays ${stats.replays}`);
  } finally {
    await session.release();
    await twin.release();
  }
});

Deno.test("session: runSync while a run of the same shapes is in flight computes on a spare plan, both right", async () => {
  const model = resnetCnn({ size: 224, widths: [32, 64], blocks: 1, classes: 10 });
  const session = await InferenceSession.create(model.bytes, {
    intraOpNumThreads: 1,
    tuneBudget: 0,
  });
  try {
    const feeds = (seed: number) => ({
      image: new Tensor(
        "float32",
        new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i * seed)),
        [1, 3, 224, 224],
      ),
    });
    const a = feeds(1), b = feeds(2);
    const wantA = session.runSync(a).logits.data as Float32Array;
    const wantB = session.runSync(b).logits.data as Float32Array;
    await session.run(a); // off the loop from now on (a plan of several ms)
    for (let i = 0; i < 5; i++) {
      const pending = session.run(a);
      // Until the run's calls are in flight on another thread.
      for (let t = 0; t < 4; t++) await Promise.resolve();
      const gotB = session.runSync(b).logits.data as Float32Array;
      const gotA = (await pending).logits.data as Float32Array;
      same(gotB, wantB, `round ${i}: runSync during the run`);
      same(gotA, wantA, `round ${i}: the run`);
    }
  } finally {
    await session.release();
  }
});

/** `count` async lists of one relu call (recorded again if a replay cannot run), each checked. */
async function reluLists(jit: Jit, count: number): Promise<void> {
  const x = new Float32Array(4096).map((_, i) => i - 2048), y = new Float32Array(4096);
  let r = jit.record(() => jit.unary("relu", x, y));
  await r.done;
  for (let i = 0; i < count; i++) {
    const d = jit.replay(r);
    if (d === null) r = jit.record(() => jit.unary("relu", x, y));
    await (d ?? r.done);
    assert.equal(y[0], 0);
    assert.equal(y[4095], 2047);
  }
}

/** Each thread of this process: its name and the CPUs it may run on (/proc). */
function threadMasks(): { name: string; cpus: string }[] {
  const out: { name: string; cpus: string }[] = [];
  for (const t of Deno.readDirSync("/proc/self/task")) {
    try {
      const status = Deno.readTextFileSync(`/proc/self/task/${t.name}/status`);
      const name = /^Name:\s*(.*)$/m.exec(status)?.[1] ?? "?";
      const cpus = /^Cpus_allowed_list:\s*(.*)$/m.exec(status)?.[1] ?? "?";
      out.push({ name, cpus });
    } catch { /* the thread ended meanwhile */ }
  }
  return out;
}

Deno.test({
  name:
    "record: the wait before pinned threads get their masks back is no setTimeout (a process's first one loads Deno's timer modules, 10-15 ms)",
  ignore: Deno.build.os !== "linux" || threadMasks().length === 0,
  fn: async () => {
    const real = globalThis.setTimeout;
    let timers = 0;
    globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
      timers++;
      return real(...args);
    }) as typeof setTimeout;
    let pinned = 0;
    try {
      using jit = new Jit({ threads: 1 });
      await reluLists(jit, 5);
      pinned = threadMasks().filter((t) => t.name.startsWith("tokio") && /^\d+$/.test(t.cpus))
        .length;
    } finally {
      globalThis.setTimeout = real;
    }
    // A list left its thread pinned (more than one CPU here): the wait was armed.
    if (affinityCpus() > 1) assert.ok(pinned >= 1, "no thread was left pinned");
    assert.equal(timers, 0);
  },
});

Deno.test({
  name:
    "record: lists, pinned to one CPU while they run, give every thread its own mask back once they stop, and at close",
  ignore: Deno.build.os !== "linux" || threadMasks().length === 0,
  fn: async () => {
    const before = new Map(threadMasks().map((t) => [t.name, t.cpus]));
    const process = Deno.readTextFileSync("/proc/self/status").match(
      /^Cpus_allowed_list:\s*(.*)$/m,
    )?.[1];
    /** No thread keeps the one-CPU mask of a list (Deno's blocking threads ran them). */
    const masksBack = (when: string) => {
      for (const t of threadMasks()) {
        const was = before.get(t.name) ?? process;
        if (t.name.startsWith("tokio")) {
          assert.equal(t.cpus, process, `${when}: ${t.name}: ${t.cpus}`);
        } else if (was !== undefined) assert.equal(t.cpus, was, `${when}: ${t.name}: ${t.cpus}`);
      }
    };
    const lists = (jit: Jit) => reluLists(jit, 50);
    const pins = () =>
      threadMasks().filter((t) => t.name.startsWith("tokio") && t.cpus !== process).length;
    {
      using jit = new Jit({ threads: 1 });
      await lists(jit);
      // Left pinned while lists keep coming (policy.ts, LIST_PIN_HOLD_MS), given back after.
      if (affinityCpus() > 1) assert.ok(pins() >= 1, "left pinned");
      await new Promise((r) => setTimeout(r, LIST_PIN_HOLD_MS + 30));
      masksBack("after the hold");
    }
    {
      const jit = new Jit({ threads: 1 });
      await lists(jit);
      jit.close();
      masksBack("at close");
    }
  },
});

/** The CPUs the calling thread may run on, as /proc lists them ("0-1"). */
function ownCpus(): string {
  return /^Cpus_allowed_list:\s*(.*)$/m.exec(
    Deno.readTextFileSync("/proc/thread-self/status"),
  )?.[1] ?? "?";
}

Deno.test({
  name:
    "record: a list pins the issuing thread to its CPU as it ends, and the thread has its own mask back once awake, never a CPU it may not use",
  ignore: Deno.build.os !== "linux" || affinityCpus() < 2,
  fn: async () => {
    const own = ownCpus();
    const x = new Float32Array(4096).map((_, i) => i - 2048), y = new Float32Array(4096);
    using jit = new Jit({ threads: 1 });
    for (let i = 0; i < 20; i++) {
      await jit.async(() => jit.unary("relu", x, y));
      assert.equal(ownCpus(), own, `list ${i}: the issuer's mask after its await`);
      assert.equal(y[4095], 2047);
    }
    // Lists run on the CPU of the first one; a thread narrowed since to another CPU is not
    // moved there (and keeps the narrower mask it was given).
    const listCpu = libc().sched_getcpu();
    const lib = libc(), mask = new Uint8Array(128), other = listCpu === 0 ? 1 : 0;
    assert.equal(lib.sched_getaffinity(0, 128n, mask), 0);
    const wide = mask.slice();
    mask.fill(0);
    mask[other >> 3] = 1 << (other & 7);
    assert.equal(lib.sched_setaffinity(0, 128n, mask), 0);
    try {
      const narrowed = ownCpus();
      for (let i = 0; i < 5; i++) {
        await jit.async(() => jit.unary("relu", x, y));
        assert.equal(ownCpus(), narrowed, `narrowed, list ${i}`);
      }
    } finally {
      lib.sched_setaffinity(0, 128n, wide);
    }
    assert.equal(ownCpus(), own);
  },
});

Deno.test({
  name:
    "runAll: a list that ran pinned pins its issuer (JOB_ISSUER) to its CPU as it ends; unpinned it leaves the issuer alone",
  ignore: Deno.build.os !== "linux" || affinityCpus() < 2,
  fn: async () => {
    const c = libc(), own = new Uint8Array(128);
    assert.equal(c.sched_getaffinity(0, 128n, own), 0);
    const wide = ownCpus();
    const me = threadId();
    const signature = { parameters: ["pointer"], result: "void", nonblocking: true } as const;
    const runAll = new Deno.UnsafeFnPointer(
      sharedPool().runAll as Deno.PointerObject<typeof signature>,
      signature,
    );
    const list = new NativeBlock(JOB_PARTS); // no parts: only the pin and the steer
    const cpu = c.sched_getcpu();
    try {
      // Unpinned (JOB_PIN 0): the issuer is not touched.
      list.u32[JOB_ISSUER / 4] = me;
      await runAll.call(list.pointer);
      assert.equal(ownCpus(), wide, "an unpinned list moved its issuer");
      assert.equal(list.u32[JOB_TID / 4], 0);
      // Pinned: the list's thread stays there (its tid written), and so is the issuer.
      list.u32[JOB_PIN / 4] = cpu + 1;
      await runAll.call(list.pointer);
      const ran = list.u32[JOB_TID / 4];
      assert.ok(ran !== 0 && ran !== me, `the list's thread ${ran}`);
      assert.equal(ownCpus(), String(cpu), "the issuer steered onto the list's CPU");
      c.sched_setaffinity(ran, 128n, own);
    } finally {
      c.sched_setaffinity(0, 128n, own);
    }
    assert.equal(ownCpus(), wide);
  },
});
