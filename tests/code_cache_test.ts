import assert from "node:assert/strict";
import { InferenceSession, Jit, Tensor } from "../mod.ts";
import { ZOO } from "../tools/model_zoo.ts";
import type { KernelPlan } from "../src/kernels/family.ts";
import { GEMM } from "../src/kernels/gemm/family.ts";
import { canonicalText, CodeCache, entryKey } from "../src/runtime/code_cache.ts";
import { hashText, sourceStamp } from "../src/runtime/code_stamp.ts";
import { rng as seededRandom } from "./helpers/random.ts";

const JIT = (() => {
  try {
    using jit = new Jit();
    return jit.stats().jit;
  } catch {
    return false;
  }
})();

Deno.test("code cache: the key text tells apart what JSON does not, and refuses what it cannot write", () => {
  const texts = [
    0,
    -0,
    NaN,
    Infinity,
    -Infinity,
    null,
    undefined,
    "1",
    1,
    [1, 2],
    new Float32Array([1, 2]),
    new Float32Array([0]),
    new Float32Array([-0]),
    new Int32Array([1, 2]),
    { a: 1, b: 2 },
    { b: 2, a: 1 },
    { a: [1, { c: null }] },
    { a: [1, { c: NaN }] },
    [, 1],
    [undefined, 1],
    true,
    10n,
  ].map((v) => canonicalText(v));
  assert.ok(texts.every((t) => t !== null));
  assert.equal(new Set(texts).size, texts.length, texts.join(" | "));
  // The same value built twice writes the same text.
  assert.equal(canonicalText({ x: [1.5, -0] }), canonicalText({ x: [1.5, -0] }));
  for (
    const v of [new Map(), new Set([1]), () => 1, new (class P {})(), { m: new Map() }, [Symbol()]]
  ) {
    assert.equal(canonicalText(v), null, typeof v);
  }
  assert.equal(entryKey("gemm", { m: 1 }, { f: () => 1 }), null);
  assert.equal(entryKey("gemm", { m: 1 }, { t: 2 }), 'gemm\n{"m":1}\n{"t":2}');
  assert.notEqual(entryKey("gemm", {}, {}), entryKey("softmax", {}, {}));
});

Deno.test("code cache: the stamp follows every source file's size and time, or the module URL", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${dir}/asm`);
    Deno.mkdirSync(`${dir}/src/kernels`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/asm/a.ts`, "export const a = 1;\n");
    Deno.writeTextFileSync(`${dir}/src/kernels/k.ts`, "export const k = 1;\n");
    Deno.writeTextFileSync(`${dir}/src/notes.md`, "not code\n");
    const root = new URL(`file://${dir}/`);
    const first = sourceStamp(root);
    assert.match(first ?? "", /^[0-9a-f]{16}$/);
    assert.equal(sourceStamp(root), first);
    Deno.writeTextFileSync(`${dir}/src/notes.md`, "still not code\n");
    assert.equal(sourceStamp(root), first);
    Deno.utimeSync(`${dir}/src/kernels/k.ts`, new Date(), new Date(Date.now() + 5000));
    const touched = sourceStamp(root);
    assert.notEqual(touched, first);
    Deno.writeTextFileSync(`${dir}/asm/b.ts`, "");
    assert.notEqual(sourceStamp(root), touched);
    assert.equal(
      sourceStamp(new URL("https://jsr.io/@njit/core/0.2.0/")),
      hashText("https://jsr.io/@njit/core/0.2.0/"),
    );
    assert.notEqual(
      sourceStamp(new URL("https://jsr.io/@njit/core/0.2.0/")),
      sourceStamp(new URL("https://jsr.io/@njit/core/0.2.1/")),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

// The operands live as long as the test module: a call's key includes where B starts in a
// cache line, so each Jit's calls must see the same addresses to ask for the same kernels.
const RAND = seededRandom(21);
const ints = (n: number) => Float32Array.from({ length: n }, () => Math.floor(RAND() * 9) - 4);
const A = ints(96 * 64), B = ints(64 * 160), X = ints(96 * 160).map((v) => v / 4);

/** The one stamp directory a cache under `dir` made. */
function onlyStampDir(dir: string): string {
  const dirs = [...Deno.readDirSync(dir)].map((e) => `${dir}/${e.name}`);
  assert.equal(dirs.length, 1, dirs.join());
  return dirs[0];
}

/** A GEMM (split between 2 threads when `threads` is 2) and a softmax; outputs and cache counts. */
function calls(dir: string, threads: number) {
  using jit = new Jit({ codeCache: dir, threads, minPartUs: 0 });
  const c = new Float32Array(96 * 160), y = new Float32Array(96 * 160);
  jit.gemm(A, B, c, { m: 96, n: 160, k: 64 });
  jit.softmax(X, y, { rows: 96, cols: 160 });
  const s = jit.stats();
  return { c, y, cache: s.codeCache!, compiles: s.compiles };
}

Deno.test({
  name: "code cache: a new Jit installs the kernels another generated, same bits, 1 and 2 threads",
  ignore: !JIT,
  fn() {
    const dir = Deno.makeTempDirSync();
    try {
      for (const threads of [1, 2]) {
        const first = calls(dir, threads);
        assert.equal(first.cache.installed, 0);
        assert.ok(first.cache.writable);
        const second = calls(dir, threads);
        assert.equal(second.compiles, first.compiles);
        assert.ok(second.cache.installed >= 2, `installed ${second.cache.installed}`);
        assert.deepEqual(second.c, first.c);
        assert.deepEqual(second.y, first.y);
      }
      const stampDir = onlyStampDir(dir);
      assert.match(stampDir, /\/[0-9a-f]{16}$/);
      const files = [...Deno.readDirSync(stampDir)].map((e) => e.name);
      assert.ok(
        files.length >= 4 && files.every((f) => /^[0-9a-f]{16}\.bin$/.test(f)),
        files.join(),
      );
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "code cache: a split call's parts are kept: a new Jit does not partition it again",
  ignore: !JIT,
  fn() {
    const dir = Deno.makeTempDirSync();
    const family = GEMM as { partition: NonNullable<typeof GEMM.partition> };
    const partition = family.partition;
    let partitions = 0;
    family.partition = (spec, plan, n) => {
      partitions++;
      return partition(spec, plan, n);
    };
    try {
      const first = calls(dir, 2);
      assert.ok(partitions >= 1, "the gemm was not split");
      const before = partitions;
      const second = calls(dir, 2);
      assert.equal(partitions, before, "the second Jit partitioned the gemm again");
      assert.deepEqual(second.c, first.c);
      assert.deepEqual(second.y, first.y);
    } finally {
      family.partition = partition;
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "code cache: a file cut short, changed, or written for another key is generated anew",
  ignore: !JIT,
  fn() {
    const dir = Deno.makeTempDirSync();
    try {
      const want = calls(dir, 1);
      const stamp = onlyStampDir(dir);
      const paths = [...Deno.readDirSync(stamp)].map((e) => `${stamp}/${e.name}`);
      const files = paths.map((p) => Deno.readFileSync(p));
      const damages: [string, (f: Uint8Array) => Uint8Array][] = [
        ["cut short", (f) => f.slice(0, f.length - 1)],
        ["header only", (f) => f.slice(0, 40)],
        ["empty", () => new Uint8Array(0)],
        ["a code byte flipped", (f) => {
          const g = f.slice();
          g[g.length - 3] ^= 0x10;
          return g;
        }],
        ["another key", (f) => {
          const g = f.slice();
          g[41] ^= 1; // a byte of the key text (after the 40 bytes of header)
          return g;
        }],
        ["another format", (f) => {
          const g = f.slice();
          g[8] = 9;
          return g;
        }],
      ];
      for (const [what, damage] of damages) {
        paths.forEach((p, i) => Deno.writeFileSync(p, damage(files[i])));
        const got = calls(dir, 1);
        assert.equal(got.cache.installed, 0, what);
        assert.deepEqual(got.c, want.c, what);
        assert.deepEqual(got.y, want.y, what);
        // Generated anew, and written again whole.
        paths.forEach((p, i) => assert.deepEqual(Deno.readFileSync(p), files[i], what));
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "code cache: fresh processes share it; without write access nothing is written or asked",
  ignore: !JIT,
  async fn() {
    const dir = Deno.makeTempDirSync();
    const child = new URL("./fixtures/code_cache_child.ts", import.meta.url).pathname;
    const run = async (perms: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...perms, child],
        env: { NJIT_CODE_CACHE: dir },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(out.stderr);
      assert.ok(out.success, err);
      assert.doesNotMatch(err, /prompt|granted|denied/i);
      return JSON.parse(new TextDecoder().decode(out.stdout));
    };
    try {
      const readOnly = ["--allow-ffi", "--allow-env", "--allow-read"];
      const none = await run(readOnly);
      assert.equal(none.cache.writable, false);
      assert.equal(none.cache.installed, 0);
      assert.deepEqual([...Deno.readDirSync(dir)], []);
      const wrote = await run(["-A"]);
      assert.equal(wrote.cache.writes, 4); // each of the two kernels: its plan and its code
      assert.equal(wrote.sum, none.sum);
      const hit = await run(readOnly);
      assert.equal(hit.cache.installed, 2);
      assert.equal(hit.cache.writes, 0);
      assert.equal(hit.sum, none.sum);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "code cache: bad option values are named; false turns it off",
  ignore: !JIT,
  fn() {
    assert.throws(() => new Jit({ codeCache: "" }), /codeCache must be a directory path or false/);
    assert.throws(() => new Jit({ codeCache: 5 as unknown as string }), RangeError);
    using jit = new Jit({ codeCache: false });
    assert.equal(jit.stats().codeCache, null);
  },
});

Deno.test("code cache: entries round-trip by family, spec and plan; a full directory starts again empty", () => {
  const dir = Deno.makeTempDirSync();
  const program = (bytes: number[]) => ({
    code: new Uint8Array(bytes),
    codeBytes: bytes.length - 1,
    instructions: 2,
    evexInstructions: 1,
    vexInstructions: 3,
    labels: new Map<string, number>(),
    entries: [],
    listing: () => "",
  });
  // Probes through the cache's get-or-make calls: a `make` that throws MISS reads without writing.
  const MISS = new Error("not kept");
  const absent = (): never => {
    throw MISS;
  };
  const orNull = <T>(f: () => T): T | null => {
    try {
      return f();
    } catch (e) {
      if (e === MISS) return null;
      throw e;
    }
  };
  type Made = ReturnType<typeof program>;
  const put = (c: CodeCache, f: string, spec: unknown, plan: unknown, made: Made) =>
    assert.equal(c.program(f, spec, plan, () => made).kept, false);
  const get = (c: CodeCache, f: string, spec: unknown, plan: unknown) =>
    orNull(() => c.program(f, spec, plan, absent).program);
  const putPlan = (c: CodeCache, f: string, spec: unknown, target: unknown, plan: KernelPlan) =>
    c.plan(f, spec, target, () => plan);
  const getPlan = (c: CodeCache, f: string, spec: unknown, target: unknown) =>
    orNull(() => c.plan(f, spec, target, absent));
  try {
    const stamp = () => "0123456789abcdef";
    const first = new CodeCache(dir, stamp, 3);
    for (let i = 0; i < 3; i++) put(first, "f", { m: i }, { p: 1 }, program([0xc3, i]));
    assert.equal(get(first, "f", { m: 1 }, { p: 2 }), null);
    assert.equal(get(first, "g", { m: 1 }, { p: 1 }), null);
    const kept = get(first, "f", { m: 1 }, { p: 1 });
    assert.deepEqual([...kept!.code], [0xc3, 1]);
    assert.equal(kept!.codeBytes, 1);
    assert.equal(kept!.instructions, 2);
    assert.equal(kept!.evexInstructions, 1);
    assert.equal(kept!.vexInstructions, 3);
    assert.deepEqual(first.stats(), {
      dir: `${dir}/0123456789abcdef`,
      hits: 1,
      misses: 5, // the three made, then the two probes of absent keys
      writes: 3,
      writable: true,
    });
    // Another process finds the directory full: it empties it, then writes.
    const second = new CodeCache(dir, stamp, 3);
    put(second, "f", { m: 9 }, { p: 1 }, program([0xc3, 9]));
    assert.equal([...Deno.readDirSync(`${dir}/0123456789abcdef`)].length, 1);
    assert.equal(get(second, "f", { m: 0 }, { p: 1 }), null);
    assert.deepEqual([...get(second, "f", { m: 9 }, { p: 1 })!.code], [0xc3, 9]);
    // One process fills it too: it never holds more than 3.
    for (let i = 10; i < 20; i++) put(second, "f", { m: i }, { p: 1 }, program([0xc3, i]));
    assert.ok([...Deno.readDirSync(`${dir}/0123456789abcdef`)].length <= 3);
    // Plans: kept when JSON carries them exactly, per target and machine.
    const plans = new CodeCache(dir, stamp, 100, () => "machine A");
    const plan = {
      description: "tile 6×64",
      workspaceBytes: 0,
      mr: 6,
      nr: 64,
      parts: [1, 2],
      prefetch: null,
    };
    putPlan(plans, "f", { m: 1 }, { isa: "avx512" }, plan);
    assert.deepEqual(getPlan(plans, "f", { m: 1 }, { isa: "avx512" }), plan);
    assert.equal(getPlan(plans, "f", { m: 1 }, { isa: "avx2" }), null);
    assert.equal(getPlan(plans, "f", { m: 2 }, { isa: "avx512" }), null);
    assert.equal(
      getPlan(new CodeCache(dir, stamp, 100, () => "machine B"), "f", { m: 1 }, { isa: "avx512" }),
      null,
    );
    for (
      const inexact of [{ description: "x", workspaceBytes: 0, alpha: NaN }, {
        description: "x",
        workspaceBytes: -0,
      }]
    ) {
      putPlan(plans, "f", { m: 3 }, {}, inexact);
      assert.equal(getPlan(plans, "f", { m: 3 }, {}), null, JSON.stringify(inexact));
    }
    // No stamp (the source cannot be read): no cache, nothing written.
    const blind = new CodeCache(`${dir}/other`, () => null);
    put(blind, "f", {}, {}, program([0xc3]));
    assert.equal(get(blind, "f", {}, {}), null);
    assert.throws(() => Deno.statSync(`${dir}/other`));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name: "code cache: a session's kernels come from the directory its option names, same outputs",
  ignore: !JIT,
  async fn() {
    const dir = Deno.makeTempDirSync();
    try {
      const model = ZOO.mlp1();
      const feeds: Record<string, Tensor> = {};
      for (const [name, f] of Object.entries(model.feeds)) {
        feeds[name] = new Tensor("float32", Float32Array.from(f.data as ArrayLike<number>), f.dims);
      }
      const outputs = async () => {
        const s = await InferenceSession.create(model.bytes, { codeCache: dir });
        const out = s.runSync(feeds);
        await s.release();
        return Object.values(out).map((t) => [...(t.data as Float32Array)]);
      };
      const first = await outputs();
      const stamp = onlyStampDir(dir);
      const files = () =>
        [...Deno.readDirSync(stamp)].map((e) =>
          `${e.name} ${Deno.statSync(`${stamp}/${e.name}`).ino}`
        )
          .sort();
      const kept = files();
      assert.ok(kept.length >= 3, `${kept.length} kernels kept`);
      assert.deepEqual(await outputs(), first);
      assert.deepEqual(files(), kept); // every kernel found there: none written again
      await assert.rejects(
        () => InferenceSession.create(model.bytes, { codeCache: 5 as unknown as string }),
        /codeCache must be a directory path or false, got 5/,
      );
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
