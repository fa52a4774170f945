/**
 * CPU features, cache sizes and the ISA level the project may use, found by
 * executing our own CPUID and XGETBV stubs. An instruction set the OS has not
 * enabled in XCR0 counts as absent. `NJIT_MAX_ISA` caps the level.
 *
 * @module
 */
import { env } from "./env.ts";
import { isSupportedPlatform, libc } from "./native/libc.ts";
import { cpuid, xgetbv } from "./native/stubs.ts";
import { readCaches } from "./cpu_caches.ts";

/** Instruction-set levels, weakest first. */
export const ISA_LEVELS = ["scalar", "sse2", "avx2", "avx512", "amx"] as const;
/** An instruction-set level a kernel can be generated for. */
export type IsaLevel = typeof ISA_LEVELS[number];

/** One cache of the memory hierarchy (CPUID leaf 4, 0x8000001D on AMD, else AMD's legacy leaves). */
export interface CacheInfo {
  /** 1, 2 or 3. */
  level: number;
  /** "data", "instruction" or "unified". */
  type: "data" | "instruction" | "unified";
  /** Total bytes. */
  sizeBytes: number;
  /** Line size in bytes. */
  lineBytes: number;
  /** Associativity (0 when CPUID does not say). */
  ways: number;
  /** Logical processors sharing it (0 when CPUID does not say). */
  sharedBy: number;
}

/** What the CPU and OS offer, as found by CPUID and XGETBV. */
export interface CpuFeatures {
  /** Whether this process can run JIT code at all (x86-64 Linux with FFI). */
  jit: boolean;
  /** "GenuineIntel", "AuthenticAMD", ... */
  vendor: string;
  /** The brand string. */
  brand: string;
  /** Display family, model and stepping. */
  family: number;
  /** Display model (with the extended model bits). */
  model: number;
  /** Stepping. */
  stepping: number;
  /** SSE2 (every x86-64). */
  sse2: boolean;
  /** SSE3. */
  sse3: boolean;
  /** SSSE3. */
  ssse3: boolean;
  /** SSE4.1. */
  sse41: boolean;
  /** SSE4.2. */
  sse42: boolean;
  /** POPCNT. */
  popcnt: boolean;
  /** AVX, enabled by the OS. */
  avx: boolean;
  /** AVX2, enabled by the OS. */
  avx2: boolean;
  /** FMA3, enabled by the OS. */
  fma: boolean;
  /** F16C half-precision conversions. */
  f16c: boolean;
  /** BMI1. */
  bmi1: boolean;
  /** BMI2. */
  bmi2: boolean;
  /** AVX-512 Foundation, enabled by the OS (opmask and ZMM state in XCR0). */
  avx512f: boolean;
  /** AVX-512 DQ. */
  avx512dq: boolean;
  /** AVX-512 CD. */
  avx512cd: boolean;
  /** AVX-512 BW. */
  avx512bw: boolean;
  /** AVX-512 VL (EVEX on xmm/ymm). */
  avx512vl: boolean;
  /** AVX-512 IFMA. */
  avx512ifma: boolean;
  /** AVX-512 VBMI. */
  avx512vbmi: boolean;
  /** AVX-512 VNNI (int8 dot products). */
  avx512vnni: boolean;
  /** AVX-VNNI: the VEX-encoded int8 dot products (on cores without AVX-512). */
  avxvnni: boolean;
  /** AVX-512 BF16. */
  avx512bf16: boolean;
  /** AVX-512 FP16. */
  avx512fp16: boolean;
  /** AMX tiles, enabled by the OS. */
  amxTile: boolean;
  /** AMX BF16 tile products. */
  amxBf16: boolean;
  /** AMX int8 tile products. */
  amxInt8: boolean;
  /** XCR0 state components enabled by the OS. */
  osXmm: boolean;
  /** The OS saves YMM state (XCR0 bits 1-2). */
  osYmm: boolean;
  /** The OS saves opmask and ZMM state (XCR0 bits 5-7). */
  osZmm: boolean;
  /** The OS saves AMX tile state (XCR0 bits 17-18). */
  osAmx: boolean;
  /** Caches, L1 first. */
  caches: CacheInfo[];
  /** Bytes of L1 data, L2 and L3 cache (0 when unknown). */
  l1d: number;
  /** Bytes of L2 cache per core (0 when unknown). */
  l2: number;
  /** Bytes of L3 cache (0 when unknown). */
  l3: number;
  /** The best level the hardware and OS support. */
  bestIsa: IsaLevel;
  /** The level the project uses: `bestIsa` capped by `NJIT_MAX_ISA`. */
  isa: IsaLevel;
}

const bit = (v: number, b: number) => ((v >>> b) & 1) === 1;

function text(...regs: number[]): string {
  const bytes = new Uint8Array(new Uint32Array(regs).buffer);
  return new TextDecoder().decode(bytes).replace(/\0+$/, "").trim();
}

function detect(): CpuFeatures {
  const [maxLeaf, vb, vc, vd] = cpuid(0);
  const vendor = text(vb, vd, vc);
  const [sig, , c1, d1] = cpuid(1);
  const [, b7, c7, d7] = maxLeaf >= 7 ? cpuid(7, 0) : [0, 0, 0, 0];
  const [a71] = maxLeaf >= 7 ? cpuid(7, 1) : [0];
  const maxExt = cpuid(0x80000000)[0] >>> 0;
  const [, , c81] = maxExt >= 0x80000001 ? cpuid(0x80000001) : [0, 0, 0];
  const brand = maxExt >= 0x80000004
    ? text(...cpuid(0x80000002), ...cpuid(0x80000003), ...cpuid(0x80000004))
    : "";
  const baseFamily = (sig >>> 8) & 15, baseModel = (sig >>> 4) & 15;
  const family = baseFamily === 15 ? baseFamily + ((sig >>> 20) & 0xff) : baseFamily;
  const model = baseFamily === 6 || baseFamily === 15
    ? baseModel + (((sig >>> 16) & 15) << 4)
    : baseModel;

  // XCR0: which register states the OS saves. Without OSXSAVE, XGETBV faults.
  let xcr0 = 0;
  if (bit(c1, 27)) xcr0 = xgetbv(0)[0];
  const osXmm = bit(xcr0, 1);
  const osYmm = osXmm && bit(xcr0, 2);
  const osZmm = osYmm && bit(xcr0, 5) && bit(xcr0, 6) && bit(xcr0, 7);
  const osAmx = osZmm && bit(xcr0, 17) && bit(xcr0, 18);

  const avx = osYmm && bit(c1, 28);
  const avx512f = osZmm && bit(b7, 16);
  const caches = readCaches(cpuid, vendor, maxExt, bit(c81, 22));
  const find = (level: number, data: boolean) =>
    caches.find((c) => c.level === level && (data ? c.type !== "instruction" : true))?.sizeBytes ??
      0;
  const f: CpuFeatures = {
    jit: true,
    vendor,
    brand,
    family,
    model,
    stepping: sig & 15,
    sse2: bit(d1, 26),
    sse3: bit(c1, 0),
    ssse3: bit(c1, 9),
    sse41: bit(c1, 19),
    sse42: bit(c1, 20),
    popcnt: bit(c1, 23),
    avx,
    avx2: avx && bit(b7, 5),
    fma: avx && bit(c1, 12),
    f16c: avx && bit(c1, 29),
    bmi1: bit(b7, 3),
    bmi2: bit(b7, 8),
    avx512f,
    avx512dq: avx512f && bit(b7, 17),
    avx512cd: avx512f && bit(b7, 28),
    avx512bw: avx512f && bit(b7, 30),
    avx512vl: avx512f && bit(b7, 31),
    avx512ifma: avx512f && bit(b7, 21),
    avx512vbmi: avx512f && bit(c7, 1),
    avx512vnni: avx512f && bit(c7, 11),
    avxvnni: avx && bit(b7, 5) && bit(a71, 4),
    avx512bf16: avx512f && bit(a71, 5),
    avx512fp16: avx512f && bit(d7, 23),
    amxTile: osAmx && bit(d7, 24),
    amxBf16: osAmx && bit(d7, 22),
    amxInt8: osAmx && bit(d7, 25),
    osXmm,
    osYmm,
    osZmm,
    osAmx,
    caches,
    l1d: find(1, true),
    l2: find(2, true),
    l3: find(3, true),
    bestIsa: "scalar",
    isa: "scalar",
  };
  f.bestIsa = bestLevel(f);
  f.isa = capIsa(f.bestIsa, maxIsaFromEnv());
  return f;
}

function bestLevel(f: CpuFeatures): IsaLevel {
  const avx2 = f.avx2 && f.fma;
  const avx512 = avx2 && f.avx512f && f.avx512vl && f.avx512bw && f.avx512dq;
  // AMX counts when the CPU and the OS (XCR0) have it; the tile-state
  // permission is asked for only when an AMX kernel is about to run.
  if (avx512 && f.amxTile && f.amxBf16 && f.amxInt8) return "amx";
  if (avx512) return "avx512";
  if (avx2) return "avx2";
  if (f.sse2 && f.osXmm) return "sse2";
  return "scalar";
}

/** Sapphire Rapids' display model (family 6). */
const SAPPHIRE_RAPIDS = 143;

/**
 * Whether this core runs AVX-512 FMAs with a broadcast memory operand
 * (`vfmadd231ps z, z, [m]{1to16}`, one load per FMA) faster than with a
 * broadcast register shared by two FMAs: tier 1's default (tier 2 tries the other; the same
 * FMAs, the same bits). Only on Sapphire Rapids, where the notes' "Sapphire Rapids-class Xeon"
 * measured it: 14 positions × 2 vectors in L1 at 96-98% of the FMA-only loop embedded and
 * 83-89% shared (`bench/cv_probe.ts`), 2-5% in the 3×3 layers of a ResNet-style CNN (tier 2's
 * candidates). Every other core measured since keeps the register: on Zen 5 one load per FMA
 * held the loop to 85-88% where the shared register reached the peak; on Emerald Rapids (model
 * 207, 2026-12-07) the loop ran at the peak both ways and the layers faster shared (`bench/ab.ts`
 * with the rule off: the CNN ×0.983 / ×0.982 at 1 / 2 threads, ResNet-50 ×0.996 / ×0.990); on
 * a Xeon shown as model 167 (AVX-512 + AMX + FP16, 48 KiB L1, 2 MiB L2, 480 MiB L3: a masked
 * model number, 2026-12-07 too) the loop ran 87% embedded and 92% shared (P=14 V=2), 82% and
 * 95% at 6 × 4, and `deno run -A bench/ab.ts --a 9f632f8 --b ab/no-embed-167 --model M
 * [--threads 2]` (the register everywhere) took the CNN ×0.941, ×0.940, ×0.936 (three runs, 1
 * thread) and ×0.954 (2 threads), ResNet-50 ×0.958 / ×0.959, MobileNetV2 ×1.012 / ×1.006 of the
 * time.
 * A 1×1 convolution's channel-vector tiles keep the register on every core (conv/plan.ts
 * `tierOneTile`), and so do NHWC tiles (their broadcasts are a position's stride apart).
 */
export function prefersEmbeddedBroadcast(f: CpuFeatures): boolean {
  return f.vendor === "GenuineIntel" && f.model === SAPPHIRE_RAPIDS;
}

/**
 * Whether an AVX-512 tile with one vector of outputs per input (the channel-vector kernel's
 * 16-channel tiles) takes each broadcast input as its FMA's memory operand rather than from a
 * broadcast register loaded for it: with no second FMA to share the register, the embedded
 * form is one micro-op where the register costs two on Intel cores (the load fused into the
 * FMA). Tier 1's default for K×K layers (tier 2 tries the other; the same bits). On a Xeon
 * shown as model 167: `deno run -A bench/cv_probe.ts` 16 × 1 embedded 91% of the FMA-only
 * loop, 14 × 1 shared 80-86% (two runs); `bench/tune_candidates.ts --conv 1,64,28,28,16,3,1,1,1
 * --packed` 85.7 µs embedded against 89.2-91.3 shared, `--conv 1,3,224,224,16,3,2,1,1` (a
 * 16-channel stem, channel vectors 16 × 16) 81.4 against 91.6-95.1; on the Sapphire
 * Rapids-class host 16 × 1 at 100% embedded. `deno run -A bench/ab.ts --a e039903 --b
 * ab/lone-broadcast --conv 1,C,H,H,16,3,1,1,1` (× the time, the same bits; 16-channel tiles
 * embedded, and tier 1's estimate then takes them over the tile kernel): 64→16 on 28² ×0.954,
 * 16→16 on 56² ×0.872 (2 threads ×0.811, operands cold ×0.870), 32→16 on 112² ×0.903 (×0.916);
 * `--model` U-Net, MobileNetV2 and the CNN (no such layers) ×0.993-1.016. Not measured on AMD,
 * which keeps the register.
 */
export function embedsLoneBroadcast(f: CpuFeatures): boolean {
  return f.vendor === "GenuineIntel";
}

/**
 * Whether a convolution of 128 input channels or more leans to the channel-vector kernel in
 * tier 1 (its estimate taken 1.15× cheaper against the position kernel's: conv/plan.ts). On
 * Zen 5 the position kernel's 6 lines per input plane and step stalled in a model with its caches
 * cold (ResNet-50, one thread: 1×1 256→128 on 56² 1250 → 1066 µs with the lean). On a Sapphire
 * Rapids-class Xeon the lean took the slower kernel: `deno run -A bench/ab.ts --a a645a04 --b
 * 88abf3a` (branch tried/no-deep-lean, the lean dropped) ran 1×1 256→64 on 56²
 * (`--conv 1,256,56,56,64,1,1`) ×0.667 of the time and `--model resnet50` ×0.950 on one thread
 * (×0.975 on two, unresolved).
 */
export function leansToDeepChannelVectors(f: CpuFeatures): boolean {
  return f.vendor !== "GenuineIntel";
}

/**
 * Whether a K×K convolution past a network's first layer leans to the channel-vector kernel in
 * tier 1 (its estimate taken 1.3× cheaper against the position kernel's: conv/plan.ts
 * `KXK_LEAN`). On an Intel Xeon (model 167) the position kernel ran 3×3 layers of 16-32 inputs
 * on 80-112² at 59-72% of the FMA peak where the channel vectors ran 69-78%, and the estimates
 * had them the other way round (`deno run -A bench/tune_candidates.ts --conv 1,16,112,112,32,3,1
 * --packed`: 809 against 669 µs). At AVX-512 only; not measured on AMD, which keeps the estimates
 * as they are.
 */
export function leansToKxkChannelVectors(f: CpuFeatures): boolean {
  return f.vendor === "GenuineIntel";
}

/**
 * Whether AVX2's masked store (`vmaskmovps` to memory) is microcoded, so that a convolution's
 * tier 1 at AVX2 prices its table of row pieces (conv/store_table.ts: a masked store per piece
 * of every vector, where rows store one a row's tail) at that (conv/plan.ts
 * `MICROCODED_MASKED_STORE`). AMD: on Zen 3 the ordinary estimate put the table first on
 * layers of short k loops it ran slower than the same tile row by row (`deno run -A
 * bench/tune_candidates.ts --conv 1,C,H,H,OC,3,1 --packed`, the 6×16 tile in the table
 * against in rows, µs): 16→64 on 55² 803 against 660 (SqueezeNet's expand layers, tier 1's
 * choice), 16→32 on 56² 533 against 374, 16→16 on 56² 217 against 168, 16→64 on 27² 213
 * against 176, 24→64 on 28² 292 against 261, 64→64 on 56² 2793 against 2704; 128→32 on 28²
 * ran the table faster (744 against 800), and priced so it still takes it. Intel's masked
 * store is a few µops; not measured there.
 */
export function microcodesMaskedStores(f: CpuFeatures): boolean {
  return f.vendor === "AuthenticAMD";
}

/**
 * Whether an NHWC depthwise convolution whose x is past L2 takes every channel vector in turn
 * in each tile (x and y streamed along their rows) at any stride, rather than each channel
 * vector sweeping blocks of rows at stride 2 (conv/depthwise_nhwc.ts `depthwiseNhwcTile`). On
 * Zen 5 the sweeps won at stride 2 (112² × 96: 91.1 µs against 115.9); on a Sapphire
 * Rapids-class Xeon, one thread, tier 1's sweeps against tiles (`deno run -A
 * bench/tune_candidates.ts --conv 1,C,H,H,C,3,S,C --packed --nhwc`): 112² × 96 /2 333 against
 * 208 µs; a rule of tiles on rows of 14 or more (`deno run -A bench/ab.ts --a c99db82 --b
 * 52b6e7e --conv 1,C,H,H,C,3,2,C --nhwc --activation clip`): 112² × 96 ×0.695 of the time (2
 * threads ×0.709), 28² × 192 ×0.948, but 56² × 144 (x 1.8 MB, within L2) ×1.044: so where x is
 * past L2 only.
 */
export function tilesNhwcDepthwise(f: CpuFeatures): boolean {
  return f.vendor === "GenuineIntel";
}

/**
 * Whether a 1×1 convolution of fewer than 32 input channels whose y (an image's) is past four
 * L2s runs its channel tiles outside at AVX2 (conv/plan.ts `channelTilesOutside`): each channel
 * tile writes its few planes front to back, where position tiles outside write a few lines of
 * every plane of y a tile. On Zen 3, one thread, `deno run -A bench/tune_candidates.ts --conv
 * 1,C,H,H,OC,1,1 --packed --activation clip` (tier 1's tile, then with its channel tiles
 * outside; head to head, µs): 16→96 on 112² 718 against 575 (operands cold, `--cold`: 921
 * against 718), 16→64 on 112² 449 against 404, 24→144 on 112² 1817 against 1410; where y is
 * within four L2s or k is 32 and more the rule as it was stayed faster: 16→96 on 56² 146 against
 * 182, 32→64 on 112² 951 against 1088, 24→144 on 56² 287 against 304, 64→256 on 56² 1216
 * against 1325. On Intel (Sapphire Rapids-class, AVX-512) short k loops ran slower outside
 * (conv/plan.ts `channelTilesOutside`); AVX2 on Intel not measured.
 */
export function runsShortChannelTilesOutside(f: CpuFeatures): boolean {
  return f.vendor === "AuthenticAMD";
}

/**
 * Whether a GEMM whose B column strips do not fit in L1 should copy them
 * into a contiguous buffer before the row tiles read them, rather than read
 * them in place from L2 (with the next strip prefetched past L2). The same
 * tiles over the same K blocks either way (the same bits); only the speed
 * differs, and in opposite directions by vendor. On a Sapphire Rapids-class
 * Xeon (2 MiB L2) copying won where B's rows lie a multiple of 4 KiB apart
 * (`bench/tune_candidates.ts --gemm`: 128×3072×768 31-36% → 47-51% of the
 * peak, 32×4096×4096 15% → 26%), and from 64 rows on wherever a strip is
 * past L1; the same cores take the gemm plan's other rules for B as stored
 * (gemm/plan.ts `readsBAsStored`: strips whose rows share L1's sets copied,
 * a B off its lines peeled rather than read by split loads). On Zen 5 the
 * copy is a serial pass of ~3 ns a cache line that no prefetching shortened (tried: the next strip
 * into L1 or L2 during the tiles, rows ahead within the copy, eight rows'
 * loads before their stores), and it is amortized only over the rows of A:
 * `deno run -A bench/tune_candidates.ts --gemm 32x4096x4096` timed the copy
 * at 1.53× the time read in place (11.1 against 7.3 ms), 128×3072×768 at
 * 1.10×; at 128×1024×1024 the copy ran 6% faster, which tier 2 finds.
 */
export function prefersCopiedStrips(f: CpuFeatures): boolean {
  return f.vendor === "GenuineIntel";
}

/**
 * Whether a transposing copy of rows a multiple of 4 KiB apart (Bᵀ's, `emitTransposePanel16` in
 * gemm/pack.ts) moves its 16×16 blocks whole rather than in two passes of 8 rows stored as
 * 128-bit pieces. The 16 loads of a block then share one L1 set; on Zen 4 (8 ways) the halves
 * ran 64×768×3072 with Bᵀ at 75% → 88% of the peak. Each line is loaded once, by one block, so
 * a 12-way L1 (Sapphire Rapids-class Xeon) loses nothing to the shared set, and the halves'
 * extra shuffles and stores cost (port 5 and the store port: 80 shuffles and 64 stores a block
 * against 64 and 16). Intel Xeon (SPR-class), one thread, `NJIT_NOHALVES=1 deno run -A
 * bench/ab.ts --a 3510387 --b tried/transpose-whole-probe --gemm MxNxK --transB --offset 16` (× the
 * time, the same bits): 64×768×3072 ×0.895, 128×768×3072 ×0.936, 64×1024×1024 ×0.885,
 * 128×4096×1024 ×0.930, 1024³ ×0.995; this rule (`--a 3510387 --b 9f2c10f`): 64×768×3072 ×0.891,
 * 128×768×3072 ×0.934, 64×1024×1024 ×0.889.
 */
export function transposesAliasedRowsWhole(f: CpuFeatures): boolean {
  return f.vendor === "GenuineIntel";
}

/**
 * Whether a GEMM reading B in place past L2, the next column strip prefetched while the row
 * tiles run over this one, spreads that prefetch over the tiles (each full row tile in turn
 * fetches some of the next strip's rows into L2, a row each k-loop iteration of 8 k steps)
 * rather than has every tile fetch the whole next strip into L1 (gemm/direct.ts
 * `spreadNext`). On a Sapphire Rapids-class Xeon the strip's rows, a few lines each and 3 KiB
 * apart, come in past the hardware prefetchers, from an L3 far away: eight tiles each fetching
 * them kept more lines in flight than the core's fill buffers, and the tiles' own loads waited
 * behind them. The same for Bᵀ transposed strip by strip: the next strip's Bᵀ rows dealt out
 * to the tiles. Zen 4 and 5 measured the every-tile form at 92-95% of the peak (64×768×3072) and
 * keep it.
 */
export function spreadsNextStrip(f: CpuFeatures): boolean {
  return f.vendor === "GenuineIntel";
}

/**
 * Whether row kernels should prefetch rows ahead (software prefetches) for
 * operands that fit in L2, or only for larger ones. On a Sapphire
 * Rapids-class Xeon the rows wait on L2 without them (layerNorm 128×768
 * 46.7-48.6 → 22.2-22.3 µs with them: see the norm plan). On Zen 5 the
 * hardware serves L2 alone and the prefetches are instructions more:
 * `deno run -A bench/tune_candidates.ts --norm 128x768`, three runs, the
 * plan with and without them timed in turn, 8.4-9.2 against 7.5-8.6 µs
 * (64×768 even; past L2 mixed, 512×1024 1.05-1.07× with them).
 */
export function prefetchesWithinL2(f: CpuFeatures): boolean {
  return f.vendor === "GenuineIntel";
}

/**
 * Whether an elementwise kernel at AVX-512 whose y lies past the size
 * streamed when split (`STREAM_STORES_FROM` in kernels/elementwise.ts)
 * streams it on one thread too. On a Sapphire Rapids-class Xeon a line
 * stored through the cache is read for ownership first, and one core's
 * stores then run at about half its streamed rate: `deno run -A
 * bench/tune_candidates.ts --unary OP,N` (tier 1 against its streamed
 * candidate, one process), relu 8 Mi floats 5296 → 3153 µs, 16 Mi 10572 →
 * 6265, 64 Mi 42518 → 26004; exp 8 Mi 4813 → 4049, 16 Mi 9864 → 8128;
 * clip and hardSwish 64 Mi ×1.77 and ×1.74. On a Zen 5 guest (2026-12-07, the same
 * bench) they won too: relu 8 Mi floats 1781 → 1394 µs, 16 Mi 3608 → 2552, 64 Mi
 * 14684 → 9971 (×1.38 head to head); exp 8 Mi 1753 → 1415, 64 Mi 14550 → 12076;
 * gelu 16 Mi 3901 → 3276, 64 Mi 14401 → 11086. An earlier Zen 5 guest had them
 * tie on relu and lose on exp (64 Mi, 15261 against 15407 and 18792 against
 * 17615 µs): tier 2 still tries y stored through the cache.
 */
export function streamsOnOneThread(f: CpuFeatures): boolean {
  return f.vendor === "GenuineIntel" || f.vendor === "AuthenticAMD";
}

/**
 * Whether an elementwise kernel that streams y also prefetches x ahead into
 * L2 (`FETCH_AHEAD` in kernels/elementwise.ts has the Intel figures). Not
 * measured on AMD parts, whose hardware prefetchers the kernels were tuned
 * on: there tier 2 tries it.
 */
export function prefetchesStreamedRows(f: CpuFeatures): boolean {
  return f.vendor === "GenuineIntel";
}

/**
 * Whether row kernels that prefetch the input's rows ahead also claim the
 * output's lines of those rows for writing (prefetchw). On Zen 5 the
 * claims cost more than the stores' own requests for the lines: `deno run
 * -A bench/tune_candidates.ts --norm 512x1024`, four runs, tier 1 without
 * them against the candidate with them, 57.4 / 58.1 / 64.9 / 73.0 against
 * 59.4 / 60.7 / 79.5 / 84.0 µs (a C model of the loop, scratch: 63-67%
 * of a copy's speed with the claims, 83-87% without); `--softmax
 * 1024x1024`, two runs, 167.9 / 147.0 against 170.9 / 148.7. The Xeon's
 * figures in the softmax plan were taken with the claims, so Intel keeps
 * them there; the norm plan has since dropped them everywhere (see
 * planNorm).
 */
export function claimsRowsAhead(f: CpuFeatures): boolean {
  return f.vendor === "GenuineIntel";
}

/**
 * Whether AVX-512 softmax lags its long rows (a row's pass 3 and the next
 * row's pass 1 in its pass 2: `SoftmaxPlan.lagged` has the Intel figures).
 * On a Zen 5 guest the three passes one after the other won at every shape
 * tried, tier 2's candidates in one process (`deno run -A
 * bench/tune_candidates.ts --softmax RxC`, 2026-12-07, lagged with the next
 * maximum / lagged alone / neither): 128×30522 1570 / 1001 / 933 µs,
 * 16×65536 278 / 197 / 177, 32×16384 135 / 137 / 117, 64×8192 86 / 100 /
 * 74, 512×7000 1529 / 955 / 883.
 */
export function lagsLongRows(f: CpuFeatures): boolean {
  return f.vendor === "GenuineIntel";
}

/**
 * Whether AVX-512 softmax takes its short rows (up to 8 vectors) in blocks
 * of 16 (`SoftmaxPlan.blocked` has the Intel figures) rather than three in
 * flight through the pipelined stages. On a Zen 5 guest the pipelined
 * stages won, tier 2's candidates in one process (`deno run -A
 * bench/tune_candidates.ts --softmax RxC`, 2026-12-07, blocks / 3 in
 * flight): 1536×128 44.7 / 33.1 µs and 38.8 / 24.6 in a second run,
 * 3072×64 40.3 / 31.8, 256×128 5.4 / 3.7, 512×100 11.9 / 7.4; rows of one
 * vector tied (4096×16 16.6 / 17.3). `deno run -A bench/ab.ts --a 9b3cabd
 * --b 5cf6476 --softmax RxC` (blocks, then three in flight): 1536×128
 * ×0.796, 3072×64 ×0.683, 512×100 ×0.736; but logSoftmax (`--log`) lost
 * there, 3072×64 ×1.385 and ×1.251, 512×100 ×1.244, 256×128 ×1.209,
 * 1536×128 ×0.912 and ×1.072: its rows stay in blocks on every core.
 */
export function blocksShortRows(f: CpuFeatures): boolean {
  return f.vendor === "GenuineIntel";
}

/**
 * Whether the 8-bit kernels (GEMM, convolution) run tiles at `level` (AMX,
 * VNNI or AVX2's word tiles) rather than their scalar loops: callers with an
 * exact float alternative take that below.
 */
export function int8Tiles(level: IsaLevel): boolean {
  return level === "avx2" || level === "avx512" || level === "amx";
}

/**
 * Linux hands out the AMX tile state only on request (arch_prctl
 * ARCH_REQ_XCOMP_PERM): call this before the first AMX tile instruction runs.
 * The 8-bit GEMM's plan asks once, and keeps VNNI when Linux says no.
 */
export function requestAmxPermission(): boolean {
  const SYS_arch_prctl = 158n, ARCH_REQ_XCOMP_PERM = 0x1023n, XFEATURE_XTILEDATA = 18n;
  return libc().syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) === 0n;
}

/** The `NJIT_MAX_ISA` cap, or undefined. Throws a RangeError on an unknown value. */
export function maxIsaFromEnv(): IsaLevel | undefined {
  const v = env("NJIT_MAX_ISA");
  if (v === undefined) return undefined;
  const level = v.toLowerCase() as IsaLevel;
  if (!ISA_LEVELS.includes(level)) {
    throw new RangeError(`NJIT_MAX_ISA must be one of ${ISA_LEVELS.join(", ")}; got "${v}"`);
  }
  return level;
}

/** `best` lowered to `cap` (no cap when undefined). */
export function capIsa(best: IsaLevel, cap: IsaLevel | undefined): IsaLevel {
  if (cap === undefined) return best;
  return ISA_LEVELS.indexOf(cap) < ISA_LEVELS.indexOf(best) ? cap : best;
}

/** Every level from scalar up to `top`. */
export function levelsUpTo(top: IsaLevel): IsaLevel[] {
  return ISA_LEVELS.slice(0, ISA_LEVELS.indexOf(top) + 1);
}

/** The boolean features, by name. */
const FLAGS = [
  "sse2",
  "sse3",
  "ssse3",
  "sse41",
  "sse42",
  "popcnt",
  "avx",
  "avx2",
  "fma",
  "f16c",
  "bmi1",
  "bmi2",
  "avx512f",
  "avx512dq",
  "avx512cd",
  "avx512bw",
  "avx512vl",
  "avx512ifma",
  "avx512vbmi",
  "avx512vnni",
  "avxvnni",
  "avx512bf16",
  "avx512fp16",
  "amxTile",
  "amxBf16",
  "amxInt8",
  "osXmm",
  "osYmm",
  "osZmm",
  "osAmx",
] as const;

/** What is reported where no JIT code can run: nothing but the scalar level. */
function unavailable(): CpuFeatures {
  const f: Partial<CpuFeatures> = {
    jit: false,
    vendor: "",
    brand: "",
    family: 0,
    model: 0,
    stepping: 0,
    caches: [],
    l1d: 0,
    l2: 0,
    l3: 0,
    bestIsa: "scalar",
    isa: "scalar",
  };
  for (const k of FLAGS) f[k] = false;
  return f as CpuFeatures;
}

let cached: CpuFeatures | undefined;

/**
 * CPU features, cache sizes and ISA levels of this machine. Detected once by
 * executing CPUID/XGETBV; needs `--allow-ffi`. Off x86-64 Linux it reports
 * `jit: false` and the scalar level.
 */
export function cpuFeatures(): CpuFeatures {
  if (cached) {
    return { ...cached, caches: [...cached.caches], isa: capIsa(cached.bestIsa, maxIsaFromEnv()) };
  }
  if (!isSupportedPlatform()) return unavailable();
  libc(); // throws the --allow-ffi message when FFI is not granted
  cached = detect();
  return cpuFeatures();
}

/** The ISA level kernels are generated for: detected best, capped by `NJIT_MAX_ISA`. */
export function isaLevel(): IsaLevel {
  return cpuFeatures().isa;
}
