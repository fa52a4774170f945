/** The GEMM configurations every kernel test covers on this machine. */
import { isaLevel } from "../../mod.ts";
import type { CacheOptions, GemmLevel, IsaLevel } from "../../mod.ts";
import { levelsUpTo } from "../../src/cpu.ts";

/** Every (level, ISA) this machine runs: L0-L2 are scalar; L3 at each SIMD level up to `NJIT_MAX_ISA`. */
export function gemmConfigurations(): { level: GemmLevel; isa: IsaLevel }[] {
  const out: { level: GemmLevel; isa: IsaLevel }[] = [
    { level: 0, isa: "scalar" },
    { level: 1, isa: "scalar" },
    { level: 2, isa: "scalar" },
  ];
  for (const isa of levelsUpTo(isaLevel())) if (isa !== "amx") out.push({ level: 3, isa });
  return out;
}

/**
 * The cache sizes the path-selecting test shapes were chosen for (Zen 4/5: 1 MiB of L2).
 * Plans follow the caches (an Intel server part's 2 MiB L2 keeps larger B on the direct
 * path), so tests that check which path a shape takes pin them; results never depend on them.
 */
export const PATH_CACHES: CacheOptions = { l2: 1 << 20 };
