import assert from "node:assert/strict";
import { Assembler, dword, eax, rdi, XMM } from "../asm/mod.ts";
import { CodeArena } from "../src/native/arena.ts";
import { dispatch, timedCycles, trampolineCode } from "../src/native/dispatch.ts";
import { buildSharedObject } from "../src/native/elf.ts";
import { NativeBlock, viewAddress } from "../src/native/memory.ts";
import { LARGE_MIN_BYTES, LargeMemory, readFileLarge } from "../src/native/large_memory.ts";
import { pageSize } from "../src/native/libc.ts";
import { rdtsc } from "../src/native/stubs.ts";
import { ensureWorkspace } from "../src/runtime/native.ts";
import { mappings, permsAt, runFixture, toolAvailable } from "./helpers/fixture.ts";
import { Jit } from "../mod.ts";

/** `inc dword ptr [rdi]; ret`, from the assembler. */
function incCode(): Uint8Array {
  const a = new Assembler();
  a.emit("inc", dword(rdi));
  a.emit("ret");
  return a.finish().code;
}

Deno.test("arena: no page is ever writable and executable (V8 jitless subprocess)", async () => {
  const report = await runFixture("wx_probe.ts", ["--v8-flags=--jitless", "-A"]);
  assert.equal(report.calls, 5, "each installed block ran once");
  assert.deepEqual(report.live, ["r-xp", "r-xp", "r-xp", "r-xp", "r-xp"]);
  assert.deepEqual(report.wx, [], "a writable+executable mapping exists");
  assert.equal(report.freed, "---p", "freed code keeps no access");
});

Deno.test("arena: live code is read-execute, freed code is inaccessible and its pages reused", () => {
  const arena = new CodeArena({ budgetBytes: 1 << 20 });
  try {
    const a = arena.install(incCode());
    assert.equal(permsAt(a.address), "r-xp");
    const block = new NativeBlock(64);
    dispatch().call(a.pointer, block.pointer);
    assert.equal(block.i32[0], 1);
    arena.free(a);
    assert.equal(permsAt(a.address), "---p");
    assert.throws(() => arena.free(a), /freed twice/);
    const b = arena.install(incCode());
    assert.equal(b.address, a.address, "the freed range is reused first");
  } finally {
    arena.close();
  }
});

Deno.test("arena: byte budget holds and mappings do not grow over 100,000 install/free cycles", () => {
  const page = pageSize();
  const arena = new CodeArena({ budgetBytes: 64 * page, chunkBytes: 32 * page });
  try {
    const code = incCode();
    const big = new Uint8Array(3 * page + 5).fill(0xc3);
    const live: ReturnType<CodeArena["install"]>[] = [];
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    // Warm up to a steady state, then count mappings.
    for (let i = 0; i < 1000; i++) {
      if (live.length < 20 && (live.length === 0 || rand() < 0.55)) {
        live.push(arena.install(rand() < 0.2 ? big : code));
      } else arena.free(live.splice(Math.floor(rand() * live.length), 1)[0]);
    }
    const before = mappings().length;
    let maxChunks = 0;
    for (let i = 0; i < 100_000; i++) {
      if (live.length < 20 && (live.length === 0 || rand() < 0.5)) {
        live.push(arena.install(rand() < 0.2 ? big : code));
      } else arena.free(live.splice(Math.floor(rand() * live.length), 1)[0]);
      const s = arena.stats();
      assert.ok(s.liveBytes <= s.budgetBytes);
      maxChunks = Math.max(maxChunks, s.chunks);
    }
    const after = mappings().length;
    assert.ok(maxChunks <= 3, `chunks grew to ${maxChunks}`);
    // Protection changes split a chunk into at most one mapping per live block and gap.
    assert.ok(after <= before + 2 * 20, `mappings grew from ${before} to ${after}`);
    while (live.length) arena.free(live.pop()!);
    assert.equal(arena.stats().liveBytes, 0);
    assert.equal(arena.stats().chunks, 1);
    assert.equal(arena.stats().installs, arena.stats().frees);
  } finally {
    arena.close();
  }
});

Deno.test("arena: exceeding the budget is a RangeError; close unmaps everything", () => {
  const page = pageSize();
  const arena = new CodeArena({ budgetBytes: 2 * page });
  const a = arena.install(new Uint8Array(page).fill(0xc3));
  arena.install(new Uint8Array(10).fill(0xc3));
  assert.throws(() => arena.install(new Uint8Array(1).fill(0xc3)), RangeError);
  assert.throws(() => new CodeArena({ budgetBytes: 10 }), RangeError);
  arena.close();
  assert.equal(permsAt(a.address), "unmapped");
  assert.throws(() => arena.install(new Uint8Array(1)), /closed/);
});

Deno.test("dispatch: the trampoline passes the argument block and returns xmm0/eax", () => {
  const arena = new CodeArena();
  try {
    const a = new Assembler();
    a.emit("mov", eax, dword(rdi, 0));
    a.emit("add", eax, dword(rdi, 4));
    a.emit("cvtsi2sd", XMM[0], eax);
    a.emit("ret");
    const f = arena.install(a.finish().code);
    const block = new NativeBlock(64);
    block.i32[0] = 40;
    block.i32[1] = 2;
    assert.equal(dispatch().callF64(f.pointer, block.pointer), 42);
    assert.equal(dispatch().callI32(f.pointer, block.pointer), 42);
    // The slow generic path reaches the same code.
    f.fnPointer.call(block.pointer);
    const t0 = rdtsc();
    assert.ok(rdtsc() > t0, "rdtsc advances");
  } finally {
    arena.close();
  }
});

Deno.test("native: addresses of typed-array views include their offset and stay stable", () => {
  const f = new Float32Array(1000);
  const v = f.subarray(3);
  assert.equal(viewAddress(v), viewAddress(f) + 12);
  const small = new Float32Array(4); // on-heap in V8 until .buffer is read
  const addr = viewAddress(small);
  const junk = Array.from({ length: 10_000 }, () => new Float32Array(4)); // provoke GC churn
  assert.equal(viewAddress(small), addr);
  assert.ok(junk.length > 0);
});

Deno.test({
  name: "elf: the trampoline object is a valid shared object to readelf",
  ignore: !toolAvailable("readelf"),
  fn() {
    const so = buildSharedObject([{ name: "njit_call", code: trampolineCode() }]);
    const path = Deno.makeTempFileSync({ suffix: ".so" });
    try {
      Deno.writeFileSync(path, so);
      const readelf = (...args: string[]) => {
        const out = new Deno.Command("readelf", {
          args: ["-W", ...args, path],
          stdout: "piped",
          stderr: "piped",
        })
          .outputSync();
        return [new TextDecoder().decode(out.stdout), new TextDecoder().decode(out.stderr)];
      };
      const [headers, err1] = readelf("-l", "-d");
      const [symbols, err2] = readelf("-D", "-s");
      const text = headers + symbols;
      const err = err1 + err2;
      assert.equal(err, "");
      assert.match(text, /DYN \(Shared object file\)/);
      assert.match(text, /GNU_STACK\s.*\sRW\s/);
      assert.match(text, /LOAD\s.*\sR E\s/);
      assert.match(text, /FUNC\s+GLOBAL\s+DEFAULT\s+\d+ njit_call/);
    } finally {
      Deno.removeSync(path);
    }
  },
});

Deno.test("native: tscRate() is right as a process's first native call", async () => {
  // Its interval once held the stubs' first install (milliseconds): 0.0026 ticks/ns at 2.1 GHz.
  const { first, again } = await runFixture("tsc_rate_first.ts", ["--allow-ffi", "--allow-env"]);
  const ratio = (first as number) / (again as number);
  assert.ok(ratio > 0.97 && ratio < 1.03, `first ${first} ticks/ns, over 200 ms ${again}`);
  // Measured from the stubs' install, over at least 1 ms: it once spun 5 ms inside the
  // process's first kernel call, where now it waits out what is left of that 1 ms.
  const env = { NJIT_TSC_AFTER_INSTALL: "1" };
  const after = await runFixture("tsc_rate_first.ts", ["--allow-ffi", "--allow-env"], env);
  const again2 = (after.first as number) / (after.again as number);
  assert.ok(again2 > 0.97 && again2 < 1.03, `right after the install: ${after.first} ticks/ns`);
  // Its CPU time (a spin's), not the wall's: a preemption of the process on a loaded machine
  // once made the wall 4.1 ms.
  assert.ok(
    (after.cpuMs as number) < 3,
    `tscRate() right after the install spun ${after.cpuMs} ms (wall ${after.ms} ms)`,
  );
});

Deno.test("large memory: zeroed line-aligned arrays, large ones on mappings of their own, zeroed again when reused", () => {
  // An owner collection gives back: small arrays from V8 (each its own, freed when collected).
  const collected = new LargeMemory();
  const a = collected.floats(1000), b = collected.floats(1000);
  assert.notEqual(a.buffer, b.buffer, "an owner that does not release: small arrays from V8");
  assert.ok(a.every((v) => v === 0) && viewAddress(a) % 64 === 0);
  const m = new LargeMemory(true);
  const small = m.floats(1000), cut = m.floats(LARGE_MIN_BYTES / 4 + 3), own = m.floats(3 << 20);
  for (const a of [small, cut, own]) {
    assert.equal(viewAddress(a) % 64, 0);
    assert.ok(a.every((v) => v === 0));
  }
  assert.equal(viewAddress(own) % 4096, 0, "a mapping of its own starts on a page");
  assert.equal(small.buffer, cut.buffer, "a releasing owner's small arrays are cut from its chunk");
  const base = viewAddress(own);
  own.fill(7);
  cut.fill(7);
  const arena = m.buffer(5 << 20);
  new Float32Array(arena).fill(7);
  // Given back, the next owner's arrays may be the same memory: zero, whatever was there.
  m.release();
  const next = new LargeMemory(true);
  const again = [next.floats(3 << 20), next.floats(LARGE_MIN_BYTES / 4), next.floats(5 << 18)];
  for (const a of again) assert.ok(a.every((v) => v === 0));
  assert.ok(again.some((a) => viewAddress(a) === base), "a given-back mapping is reused");
  next.release();
});

Deno.test("large memory: arrays the caller writes whole are not cleared first, but the rest of their last line is", () => {
  const m = new LargeMemory(true);
  const cut = m.floats(LARGE_MIN_BYTES / 4 + 16), own = m.floats((3 << 20) + 16);
  cut.fill(7);
  own.fill(7);
  m.release();
  // The same memory again (reused: its old data in place), 3 floats short of the line's end.
  const next = new LargeMemory(true);
  for (const length of [LARGE_MIN_BYTES / 4 + 13, (3 << 20) + 13]) {
    const a = next.floats(length, false);
    assert.equal(viewAddress(a) % 64, 0);
    const line = new Float32Array(a.buffer, a.byteOffset, length + 3);
    assert.deepEqual([...line.subarray(length)], [0, 0, 0], `${length}: past the array, zero`);
    assert.ok(a.some((v) => v === 7), `${length}: the old data not cleared (reused memory)`);
  }
  next.release();
});

Deno.test("large memory: a released owner's ArrayBuffers are handed out again, so V8's external memory stays where it was", () => {
  // Warm: the pool holds a chunk and an arena of these lengths with their buffers.
  const warm = new LargeMemory(true);
  warm.floats(LARGE_MIN_BYTES / 4);
  const arena = warm.buffer(5 << 20);
  new Float32Array(arena).fill(3);
  warm.release();
  const before = Deno.memoryUsage().external;
  for (let i = 0; i < 20; i++) {
    const m = new LargeMemory(true);
    const cut = m.floats(LARGE_MIN_BYTES / 4);
    const again = m.buffer(5 << 20);
    assert.equal(again, arena, "the same ArrayBuffer, not a new one over the same memory");
    assert.ok(new Float32Array(again).every((v) => v === 0), "zeroed again");
    assert.ok(cut.every((v) => v === 0));
    cut.fill(1);
    new Float32Array(again).fill(2);
    m.release();
  }
  // 20 owners of ~5.3 MB each grew it by ~100 MB when every one got new ArrayBuffers.
  const grown = Deno.memoryUsage().external - before;
  assert.ok(grown < 4 << 20, `external memory grew ${grown} bytes over 20 released owners`);
});

Deno.test("large memory: arrays and file buffers are handed out with their pages in place (writing them faults none in)", async () => {
  // A fresh process: here the pool may hold mappings earlier tests gave back, their pages in place.
  const { pages, faults } = await runFixture("fresh_pages.ts", [
    "--allow-ffi",
    "--allow-read",
    "--allow-write",
    "--allow-sys",
  ]);
  assert.ok((faults as number) < 64, `writing ${pages} fresh pages faulted ${faults} in`);
});

Deno.test("large memory: the pool reuses the smallest fitting mapping, of those the one with its pages in place", async () => {
  // A fresh process: the pool holds only what the fixture gives back.
  const { pages, chunk, ownPages, own, smallPages, small } = await runFixture("pooled_pages.ts", [
    "--allow-ffi",
    "--allow-read",
    "--allow-sys",
  ]);
  assert.ok(
    (chunk as number) < 64,
    `6 MiB cut from a reused chunk faulted ${chunk} of ${pages} pages in`,
  );
  assert.ok(
    (own as number) < 64,
    `9 MiB after a chunk was cut faulted ${own} of ${ownPages} pages in (the chunk took its mapping)`,
  );
  assert.ok(
    (small as number) < 64,
    `small arrays after a released owner's faulted ${small} of ${smallPages} pages in`,
  );
});

Deno.test("large memory: a large file read into a mapping of its own has the bytes Deno.readFileSync reads", () => {
  const path = Deno.makeTempFileSync();
  try {
    for (const size of [100, LARGE_MIN_BYTES + 12345, (3 << 20) + 1]) {
      const data = new Uint8Array(size).map((_, i) => (i * 2654435761) >>> 24);
      Deno.writeFileSync(path, data);
      assert.deepEqual(readFileLarge(path), Deno.readFileSync(path), `${size} bytes`);
    }
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("timed calls: the trampoline's totals grow by what each timed call adds to its key's", () => {
  using jit = new Jit({ threads: 1, tuneBudget: 0 });
  const a = new Float32Array(64 * 64).fill(0.5), c = new Float32Array(64 * 64);
  const calls = () => {
    jit.gemm(a, a, c, { m: 64, n: 64, k: 64 });
    jit.unary("relu", a, c);
  };
  const keyCycles = () => jit.stats().keys.reduce((sum, k) => sum + k.kernelCycles, 0);
  calls();
  const k0 = keyCycles(), t0 = timedCycles();
  for (let i = 0; i < 50; i++) calls();
  const grown = timedCycles() - t0;
  assert.ok(grown > 0);
  assert.equal(grown, keyCycles() - k0);
  // A Jit that does not profile enters its kernels untimed.
  using quiet = new Jit({ threads: 1, profile: false });
  quiet.gemm(a, a, c, { m: 64, n: 64, k: 64 });
  const q0 = timedCycles();
  for (let i = 0; i < 10; i++) quiet.gemm(a, a, c, { m: 64, n: 64, k: 64 });
  assert.equal(timedCycles(), q0);
});

Deno.test("native: a workspace of no byte count is refused before any code could write it", () => {
  for (const bytes of [NaN, -64, 1.5, Infinity]) {
    assert.throws(() => ensureWorkspace(bytes), /not a byte count/, String(bytes));
  }
  ensureWorkspace(4096); // a real size still grows it
});
