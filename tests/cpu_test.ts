import assert from "node:assert/strict";
import { capIsa, cpuFeatures, ISA_LEVELS, type IsaLevel, levelsUpTo } from "../src/cpu.ts";
import { type Cpuid, legacyAmdCaches, readCaches } from "../src/cpu_caches.ts";
import { runFixture } from "./helpers/fixture.ts";

const CPUINFO_NAMES: Record<string, string> = {
  sse2: "sse2",
  sse3: "pni",
  ssse3: "ssse3",
  sse41: "sse4_1",
  sse42: "sse4_2",
  popcnt: "popcnt",
  avx: "avx",
  avx2: "avx2",
  fma: "fma",
  f16c: "f16c",
  bmi1: "bmi1",
  bmi2: "bmi2",
  avx512f: "avx512f",
  avx512dq: "avx512dq",
  avx512cd: "avx512cd",
  avx512bw: "avx512bw",
  avx512vl: "avx512vl",
  avx512ifma: "avx512ifma",
  avx512vbmi: "avx512vbmi",
  avx512vnni: "avx512_vnni",
  avxvnni: "avx_vnni",
  avx512bf16: "avx512_bf16",
  avx512fp16: "avx512_fp16",
  amxTile: "amx_tile",
  amxBf16: "amx_bf16",
  amxInt8: "amx_int8",
};

Deno.test("cpu: every feature agrees with the kernel's /proc/cpuinfo flags", () => {
  const info = Deno.readTextFileSync("/proc/cpuinfo");
  const flags = new Set(/^flags\s*:\s*(.*)$/m.exec(info)![1].split(/\s+/));
  const f = cpuFeatures() as unknown as Record<string, boolean>;
  const disagree = Object.entries(CPUINFO_NAMES)
    .filter(([ours, theirs]) => f[ours] !== flags.has(theirs))
    .map(([ours, theirs]) => `${ours}=${f[ours]} but cpuinfo ${theirs}=${flags.has(theirs)}`);
  assert.deepEqual(disagree, []);
  const vendor = /^vendor_id\s*:\s*(.*)$/m.exec(info)![1].trim();
  assert.equal(cpuFeatures().vendor, vendor);
  const family = Number(/^cpu family\s*:\s*(\d+)$/m.exec(info)![1]);
  const model = Number(/^model\s*:\s*(\d+)$/m.exec(info)![1]);
  assert.equal(cpuFeatures().family, family);
  assert.equal(cpuFeatures().model, model);
});

const SYSFS_CACHES = "/sys/devices/system/cpu/cpu0/cache";
const hasSysfsCaches = (() => {
  try {
    return Deno.statSync(SYSFS_CACHES).isDirectory;
  } catch {
    return false;
  }
})();

Deno.test({ name: "cpu: cache sizes agree with sysfs", ignore: !hasSysfsCaches }, () => {
  const f = cpuFeatures();
  const dir = SYSFS_CACHES;
  let checked = 0;
  for (const entry of Deno.readDirSync(dir)) {
    if (!entry.name.startsWith("index")) continue;
    const read = (n: string) => Deno.readTextFileSync(`${dir}/${entry.name}/${n}`).trim();
    const level = Number(read("level"));
    const type = read("type").toLowerCase();
    const size = Number(read("size").replace("K", "")) * 1024;
    const ours = f.caches.find((c) => c.level === level && c.type === type);
    assert.ok(ours, `no L${level} ${type} cache found by CPUID`);
    assert.equal(ours.sizeBytes, size, `L${level} ${type}`);
    checked++;
  }
  assert.ok(checked >= 3);
  assert.ok(f.l1d > 0 && f.l2 > f.l1d);
});

/** glibc's own reading of the caches (CPUID too, with its own decoding), 0 where it has none. */
function getconf(name: string): number {
  try {
    const out = new Deno.Command("getconf", { args: [name], stdout: "piped", stderr: "null" })
      .outputSync();
    return out.success ? Number(new TextDecoder().decode(out.stdout).trim()) || 0 : 0;
  } catch {
    return 0;
  }
}

Deno.test("cpu: L1d and L2 sizes agree with glibc's getconf", () => {
  const l1d = getconf("LEVEL1_DCACHE_SIZE"), l2 = getconf("LEVEL2_CACHE_SIZE");
  if (l1d === 0 || l2 === 0) return console.log("getconf knows no cache sizes here: not compared");
  const f = cpuFeatures();
  assert.equal(f.l1d, l1d);
  assert.equal(f.l2, l2);
});

/** Leaves 0x80000005 and 0x80000006 as an "Oxide Virtual Turin-like Processor" (Zen 5) answered. */
const TURIN_VM_L1 = [0xff60ff40, 0xff60ff40, 0x300c0140, 0x20080140];
const TURIN_VM_L2L3 = [0x40802040, 0x60804040, 0x04006140, 0x0fe09140];

Deno.test("cpu: AMD's legacy cache leaves decoded (a guest whose 0x8000001D is empty)", () => {
  assert.deepEqual(legacyAmdCaches(TURIN_VM_L1, TURIN_VM_L2L3), [
    { level: 1, type: "data", sizeBytes: 48 << 10, lineBytes: 64, ways: 12, sharedBy: 1 },
    { level: 1, type: "instruction", sizeBytes: 32 << 10, lineBytes: 64, ways: 8, sharedBy: 1 },
    { level: 2, type: "unified", sizeBytes: 1 << 20, lineBytes: 64, ways: 8, sharedBy: 1 },
    // 1016 units of 512 KiB, way code 9 ("see 0x8000001D"): what that guest claimed.
    { level: 3, type: "unified", sizeBytes: 1016 * 512 << 10, lineBytes: 64, ways: 0, sharedBy: 0 },
  ]);
  // A Zen 4's: 32 KiB 8-way L1d, 1 MiB 8-way L2, 32 MiB 16-way L3 (way code 8).
  const zen4 = legacyAmdCaches([0, 0, 0x20080140, 0x20080140], [0, 0, 0x04006140, 0x01008040]);
  assert.deepEqual(zen4.map((c) => [c.level, c.type, c.sizeBytes, c.ways]), [
    [1, "data", 32 << 10, 8],
    [1, "instruction", 32 << 10, 8],
    [2, "unified", 1 << 20, 8],
    [3, "unified", 32 << 20, 16],
  ]);
  // Leaves of zeros: no caches (the plans keep their defaults).
  assert.deepEqual(legacyAmdCaches([0, 0, 0, 0], [0, 0, 0, 0]), []);
});

Deno.test("cpu: the deterministic cache leaf first, AMD's legacy leaves only when it is empty", () => {
  /** A CPUID answering the legacy leaves as that guest did, and 0x8000001D / leaf 4 as given. */
  const fake = (deterministic: number[][]): Cpuid => (leaf, sub = 0) => {
    if (leaf === 0) return [0x10, 0, 0, 0];
    if (leaf === 0x80000005) return TURIN_VM_L1 as [number, number, number, number];
    if (leaf === 0x80000006) return TURIN_VM_L2L3 as [number, number, number, number];
    if (leaf === 0x8000001d || leaf === 4) {
      return (deterministic[sub] ?? [0, 0, 0, 0]) as [number, number, number, number];
    }
    return [0, 0, 0, 0];
  };
  // A data L1 of 64 sets × 8 ways × 64 bytes (32 KiB) shared by 2: type 1, level 1.
  const l1 = [1 | (1 << 5) | (1 << 14), 63 | (7 << 22), 63, 0];
  const amd = "AuthenticAMD", intel = "GenuineIntel";
  const sizes = (c: ReturnType<typeof readCaches>) => c.map((x) => [x.level, x.sizeBytes]);
  const legacy = [[1, 48 << 10], [1, 32 << 10], [2, 1 << 20], [3, 1016 * 512 << 10]];
  assert.deepEqual(sizes(readCaches(fake([l1]), amd, 0x80000021, true)), [[1, 32 << 10]]);
  assert.deepEqual(sizes(readCaches(fake([]), amd, 0x80000021, true)), legacy);
  assert.deepEqual(sizes(readCaches(fake([l1]), amd, 0x80000021, false)), legacy);
  assert.deepEqual(sizes(readCaches(fake([]), amd, 0x80000005, true)), []);
  assert.deepEqual(sizes(readCaches(fake([l1]), intel, 0x80000008, false)), [[1, 32 << 10]]);
  assert.deepEqual(sizes(readCaches(fake([]), intel, 0x80000008, false)), []);
  assert.equal(readCaches(fake([l1]), amd, 0x80000021, true)[0].sharedBy, 2);
});

Deno.test("cpu: ISA level follows the features; NJIT_MAX_ISA caps it", async () => {
  const f = cpuFeatures();
  const expected: IsaLevel = f.avx512f && f.avx512vl && f.avx512bw && f.avx512dq && f.fma
    ? "avx512"
    : f.avx2 && f.fma
    ? "avx2"
    : "sse2";
  if (f.amxTile && f.amxBf16 && f.amxInt8 && expected === "avx512") {
    // AMX also needs the kernel to grant the tile state (arch_prctl), which old kernels refuse.
    assert.ok(f.bestIsa === "amx" || f.bestIsa === "avx512", f.bestIsa);
  } else assert.equal(f.bestIsa, expected);
  assert.equal(capIsa("avx512", "avx2"), "avx2");
  assert.equal(capIsa("avx2", "avx512"), "avx2");
  assert.equal(capIsa("sse2", undefined), "sse2");
  assert.deepEqual(levelsUpTo("avx2"), ["scalar", "sse2", "avx2"]);
  const run = (cap: string) =>
    runFixture("isa_cap.ts", ["--allow-ffi", "--allow-env"], { NJIT_MAX_ISA: cap });
  for (const cap of ISA_LEVELS) {
    const r = await run(cap);
    assert.equal(r.best, f.bestIsa);
    assert.equal(r.isa, capIsa(f.bestIsa, cap), `NJIT_MAX_ISA=${cap}`);
  }
  const bad = await run("avx9000");
  assert.equal(bad.error, "RangeError");
  assert.match(String(bad.message), /NJIT_MAX_ISA must be one of scalar, sse2, avx2, avx512, amx/);
});

Deno.test("permissions: without --allow-ffi the first use names the flag; NotCapable is the cause", async () => {
  const r = await runFixture("no_ffi.ts", ["--no-prompt"]);
  assert.equal(r.threw, true);
  assert.equal(r.isJitUnavailable, true);
  assert.equal(r.reason, "permission");
  assert.match(String(r.message), /--allow-ffi/);
  assert.equal(r.cause, "NotCapable");
});
