/**
 * The cache hierarchy from CPUID: the deterministic leaves (4 on Intel,
 * 0x8000001D on AMD) where they answer, else AMD's legacy leaves 0x80000005
 * (L1) and 0x80000006 (L2, L3). Some hypervisors set TOPOEXT but leave
 * 0x8000001D empty: an "Oxide Virtual Turin-like Processor" (AMD Zen 5) did,
 * and every plan then blocked for a 32 KiB L1d (the default) instead of its
 * 48 KiB. Its legacy leaves were right (glibc's `getconf`, which reads them
 * too, agreed): L1d 48 KiB 12-way, L2 1 MiB 8-way.
 *
 * @module
 */
import type { CacheInfo } from "./cpu.ts";

/** CPUID as the detector runs it: eax, ebx, ecx, edx of (leaf, subleaf). */
export type Cpuid = (leaf: number, subleaf?: number) => [number, number, number, number];

/** Caches, L1 first, from the leaves the vendor has (empty when none answers). */
export function readCaches(
  cpuid: Cpuid,
  vendor: string,
  maxExt: number,
  topoext: boolean,
): CacheInfo[] {
  const amd = vendor === "AuthenticAMD" || vendor === "HygonGenuine";
  const leaf = amd
    ? (topoext && maxExt >= 0x8000001d ? 0x8000001d : 0)
    : (cpuid(0)[0] >= 4 ? 4 : 0);
  const out = leaf === 0 ? [] : deterministicCaches(cpuid, leaf);
  if (out.length > 0 || !amd || maxExt < 0x80000006) return out;
  return legacyAmdCaches(cpuid(0x80000005), cpuid(0x80000006));
}

/** Leaf 4 or 0x8000001D, one cache per subleaf until a null type. */
function deterministicCaches(cpuid: Cpuid, leaf: number): CacheInfo[] {
  const out: CacheInfo[] = [];
  for (let i = 0; i < 16; i++) {
    const [a, b, c] = cpuid(leaf, i);
    const type = a & 31;
    if (type === 0) break;
    const lineBytes = (b & 0xfff) + 1;
    const partitions = ((b >>> 12) & 0x3ff) + 1;
    const ways = ((b >>> 22) & 0x3ff) + 1;
    const sets = c + 1;
    out.push({
      level: (a >>> 5) & 7,
      type: type === 1 ? "data" : type === 2 ? "instruction" : "unified",
      sizeBytes: ways * partitions * lineBytes * sets,
      lineBytes,
      ways,
      sharedBy: ((a >>> 14) & 0xfff) + 1,
    });
  }
  return out;
}

/**
 * Ways of the 4-bit associativity code of leaf 0x80000006 (AMD's manual,
 * "L2/L3 Cache and TLB Identifiers"); 0 where the code says none is given
 * here (9: see leaf 0x8000001D; 15: fully associative).
 */
const LEGACY_WAYS = [0, 1, 2, 3, 4, 0, 8, 0, 16, 0, 32, 48, 64, 96, 128, 0];

/**
 * AMD's legacy leaves: 0x80000005 ECX is the L1 data cache and EDX the
 * instruction cache (KiB in bits 31-24, ways in 23-16, line bytes in 7-0);
 * 0x80000006 ECX is L2 (KiB in 31-16, way code in 15-12, line in 7-0) and
 * EDX L3 (512 KiB units in 31-18). They do not say which cores share a
 * cache: sharedBy is 1 (L1, L2 are per core) and 0 (unknown) for L3.
 */
export function legacyAmdCaches(
  l1: readonly number[],
  l2l3: readonly number[],
): CacheInfo[] {
  const out: CacheInfo[] = [];
  const l1Cache = (r: number, type: "data" | "instruction") => {
    const kib = r >>> 24, ways = (r >>> 16) & 0xff;
    if (kib > 0) {
      out.push({
        level: 1,
        type,
        sizeBytes: kib << 10,
        lineBytes: r & 0xff,
        ways: ways === 0xff ? 0 : ways,
        sharedBy: 1,
      });
    }
  };
  l1Cache(l1[2] >>> 0, "data");
  l1Cache(l1[3] >>> 0, "instruction");
  const l2 = l2l3[2] >>> 0, l3 = l2l3[3] >>> 0;
  if (l2 >>> 16) {
    out.push({
      level: 2,
      type: "unified",
      sizeBytes: (l2 >>> 16) * 1024,
      lineBytes: l2 & 0xff,
      ways: LEGACY_WAYS[(l2 >>> 12) & 15],
      sharedBy: 1,
    });
  }
  if (l3 >>> 18) {
    out.push({
      level: 3,
      type: "unified",
      sizeBytes: (l3 >>> 18) * 512 * 1024,
      lineBytes: l3 & 0xff,
      ways: LEGACY_WAYS[(l3 >>> 12) & 15],
      sharedBy: 0,
    });
  }
  return out;
}
