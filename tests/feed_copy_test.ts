/**
 * A run's copies of the caller's arrays (graph/feed_copy.ts): at every
 * distance modulo a page around the 4K-aliased window, the bits arrive
 * exactly (NaN payloads included), by memmove or by the copy kernel as
 * the distance says.
 */
import assert from "node:assert/strict";
import { Jit } from "../mod.ts";
import { aliasedCopy, copyData } from "../src/graph/feed_copy.ts";
import { bufferAddress } from "../src/native/memory.ts";
import { ALIASED_COPY } from "../src/runtime/policy.ts";

/** n floats at `src`, n at `src + span + d` bytes: d past a page from the source. */
function pair(n: number, d: number): { src: Float32Array; dst: Float32Array } {
  const span = Math.ceil((n * 4) / 4096) * 4096 + 4096;
  const buffer = new ArrayBuffer(2 * span + 8192);
  const base = (4096 - (bufferAddress(buffer) % 4096)) % 4096;
  return {
    src: new Float32Array(buffer, base, n),
    dst: new Float32Array(buffer, base + span + d, n),
  };
}

Deno.test("feed copy: every distance around the aliased window copies the bits exactly", () => {
  using jit = new Jit({ threads: 1 });
  for (const n of [1000, 1024, 50176, 50177]) {
    for (const d of [0, 4, 16, 28, 60, 64, 2048, 4092]) {
      const { src, dst } = pair(n, d);
      const bits = new Uint32Array(src.buffer, src.byteOffset, n);
      for (let i = 0; i < n; i++) bits[i] = (Math.imul(i, 2654435761) >>> 0) ^ 0x7f800001;
      bits[n >> 1] = 0x7fa00001; // a signaling NaN: moved, not quieted
      const aliased = n * 4 >= ALIASED_COPY.minBytes && d > 0 && d < ALIASED_COPY.window;
      assert.equal(aliasedCopy(dst, src, n), aliased, `n ${n} d ${d}`);
      copyData(jit, dst, src);
      const got = new Uint32Array(dst.buffer, dst.byteOffset, n);
      for (let i = 0; i < n; i++) assert.equal(got[i], bits[i], `n ${n} d ${d} element ${i}`);
    }
  }
});

Deno.test("feed copy: other kinds of arrays go through TypedArray.prototype.set", () => {
  using jit = new Jit({ threads: 1 });
  const src = Int32Array.from({ length: 5000 }, (_, i) => i * 7 - 3), dst = new Int32Array(5000);
  copyData(jit, dst, src);
  assert.deepEqual(dst, src);
});
