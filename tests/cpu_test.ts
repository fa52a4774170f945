import assert from "node:assert/strict";
import { capIsa, cpuFeatures, ISA_LEVELS, type IsaLevel, levelsUpTo } from "../src/cpu.ts";
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
