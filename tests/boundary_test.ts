// The boundary: ordinary mistakes and hostile values end in a clear error or
// the right answer, never a crash. Each case runs in its own process, so a
// crash fails its case instead of the suite.
import assert from "node:assert/strict";
import { runFixture } from "./helpers/fixture.ts";

type Outcome =
  | { outcome: "ok"; value: unknown }
  | { outcome: "threw"; name: string; message: string };

const run = (name: string) =>
  runFixture("hostile.ts", ["-A", "--v8-flags=--expose-gc"], { NJIT_CASE: name }) as Promise<
    Outcome
  >;

function threw(o: Outcome, name: string, message: RegExp): void {
  assert.equal(o.outcome, "threw", `expected ${name}, got ${JSON.stringify(o)}`);
  if (o.outcome === "threw") {
    assert.equal(o.name, name, o.message);
    assert.match(o.message, message);
  }
}

function right(o: Outcome): void {
  assert.equal(o.outcome, "ok", JSON.stringify(o));
  const v = (o as { value: { got: number[]; want: number[] } }).value;
  assert.deepEqual(v.got, v.want);
}

const expectations: Record<string, (o: Outcome) => void> = {
  "lying-length-own": (o) => threw(o, "RangeError", /c has 16 elements but .* needs at least/),
  "lying-length-subclass": (o) => threw(o, "RangeError", /c has 16 elements but/),
  "lying-offset-and-buffer": right,
  "not-a-typed-array": (o) => threw(o, "TypeError", /a must be a Float32Array, got an object/),
  "proxy": (o) => threw(o, "TypeError", /b must be a Float32Array, got an object/),
  "detached-after-call": (o) => threw(o, "RangeError", /a has 0 elements but/),
  "resizable-shrunk": (o) => threw(o, "RangeError", /a has 0 elements but/),
  "shared": right,
  "close-during-call": (o) => threw(o, "Error", /closed/),
  "use-after-close": (o) => {
    assert.equal(o.outcome, "ok", JSON.stringify(o));
    assert.deepEqual((o as { value: unknown }).value, {
      kernels: 0,
      codeBytes: 0,
      freed: true,
      runThrew: "Jit: this Jit is closed",
      gemmThrew: "Jit: this Jit is closed",
    });
  },
  "batch-lying-length": (o) => threw(o, "RangeError", /a has 64 elements but 8 matrices/),
  "quantize-detached": (o) => threw(o, "RangeError", /y has 0 elements, x has 64/),
  "int8-zero-point-lying": (o) =>
    threw(o, "TypeError", /aZeroPoint must be a Uint8Array of at least 1 element/),
  "overlap-same": (o) => threw(o, "RangeError", /c overlaps a/),
  "overlap-partial": (o) => threw(o, "RangeError", /c overlaps b/),
  "disjoint-one-buffer": right,
  "bigint-dimension": (o) =>
    threw(o, "TypeError", /m must be a non-negative integer, got a bigint \(4n\)/),
  "missing-options": (o) =>
    threw(o, "TypeError", /options must be an object with m, n and k, got undefined$/),
  "ldb-2^20": (o) => {
    right(o);
    assert.equal((o as { value: { fallbacks: number } }).value.fallbacks, 0);
  },
  "dropped-jits": (o) => {
    assert.equal(o.outcome, "ok", JSON.stringify(o));
    const v = (o as {
      value: { before: number; peak: number; liveBlocks: number; chunks: number };
    }).value;
    // 3,000 Jits share one arena: their kernels take a few mappings per MiB of
    // code (not 5 per Jit, as separate arenas did), and are freed when collected.
    assert.ok(v.peak <= v.before + 64, `code mappings ${v.before} -> peak ${v.peak}`);
    assert.ok(v.liveBlocks <= 1, `${v.liveBlocks} kernels of dropped Jits still live`);
    assert.ok(v.chunks <= 2, `${v.chunks} arena chunks still mapped`);
  },
};

Deno.test("boundary: hostile and mistaken input ends in a clear error or the right answer", async (t) => {
  const outcomes = await Promise.all(
    Object.keys(expectations).map(async (name) => {
      try {
        return [name, await run(name)] as const;
      } catch (e) {
        return [name, e as Error] as const;
      }
    }),
  );
  for (const [name, o] of outcomes) {
    await t.step(name, () => {
      if (o instanceof Error) throw new Error(`${name} crashed its process: ${o.message}`);
      expectations[name](o);
    });
  }
});
