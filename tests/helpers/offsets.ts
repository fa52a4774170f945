/**
 * Elementwise calls checked wherever their operands start: x and y as
 * views at float offsets into larger buffers.
 *
 * @module
 */
import assert from "node:assert/strict";

/**
 * For each [ox, oy] of `offsets`: x (holding `data`) at float `ox` of its
 * buffer, y at `oy` of a buffer of −1s; `call(x, y)`, then y must equal
 * `want(i)` bit for bit and nothing around y may have changed. With
 * `inPlace`, also `call(x, x)` with x at float 5.
 */
export function assertAtOffsets(
  data: Float32Array,
  offsets: readonly (readonly [number, number])[],
  call: (x: Float32Array, y: Float32Array) => void,
  want: (i: number) => number,
  label: string,
  inPlace = false,
): void {
  const n = data.length;
  const bx = new Float32Array(n + 32), by = new Float32Array(n + 32);
  for (const [ox, oy] of offsets) {
    bx.set(data, ox);
    by.fill(-1);
    const x = bx.subarray(ox, ox + n), y = by.subarray(oy, oy + n);
    call(x, y);
    for (let i = 0; i < n; i++) {
      if (!Object.is(y[i], want(i))) {
        assert.fail(`${label} x at ${ox}, y at ${oy}: [${i}] ${y[i]} against ${want(i)}`);
      }
    }
    assert.ok(by.subarray(0, oy).every((v) => v === -1), `${label}: before y at ${oy}`);
    assert.ok(by.subarray(oy + n).every((v) => v === -1), `${label}: after y at ${oy}`);
  }
  if (!inPlace) return;
  const x = bx.subarray(5, 5 + n);
  x.set(data);
  call(x, x);
  for (let i = 0; i < n; i++) {
    if (!Object.is(x[i], want(i))) assert.fail(`${label} in place: [${i}]`);
  }
}
