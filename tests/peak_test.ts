import assert from "node:assert/strict";
import { describeCpuPeaks, measurePeakPerCpu, measureRead, readContender } from "../src/peak.ts";
import { affinityCpuList, onCpu } from "../src/native/pool.ts";
import { libc } from "../src/native/libc.ts";

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

Deno.test("the per-CPU peak: one figure per CPU of the affinity mask, measured there, the caller's mask kept", () => {
  const before = affinityCpuList();
  const peaks = measurePeakPerCpu(2);
  assert.deepEqual(peaks.map((p) => p.cpu), before, "each CPU of the mask, in order");
  for (const p of peaks) assert.ok(Number.isFinite(p.gflops) && p.gflops > 0, `cpu${p.cpu}`);
  assert.deepEqual(affinityCpuList(), before, "the calling thread's mask restored");
  // Pinned means run there: the CPU the thread reports while pinned is the one asked for.
  for (const cpu of before) {
    assert.equal(onCpu(cpu, () => libc().sched_getcpu()), cpu);
  }
  assert.match(describeCpuPeaks(peaks), /^cpu\d+ \d+/);
  assert.equal(describeCpuPeaks([]), "not measured (affinity not settable)");
});
