import assert from "node:assert/strict";
import { measureRead, readContender } from "../src/peak.ts";

Deno.test("the read probe: bandwidth positive, a contender reads whole blocks per thread and refuses after dispose", () => {
  for (const threads of [1, 2]) {
    const gbs = measureRead(1 << 20, 2, threads);
    assert.ok(Number.isFinite(gbs) && gbs > 0, `${threads} threads: ${gbs} GB/s`);
    const contender = readContender(100_000, { threads });
    // 100,000 bytes: 195 blocks of 512 on one thread; 97 each on two (50,000 bytes each).
    assert.equal(contender.bytes, threads === 1 ? 195 * 512 : 2 * 97 * 512);
    assert.equal(contender.threads, threads);
    for (let i = 0; i < 3; i++) contender.run();
    contender[Symbol.dispose]();
    assert.throws(() => contender.run(), /disposed/);
  }
});
