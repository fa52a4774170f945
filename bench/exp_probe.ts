/**
 * AVX2's e^x loop in pieces, data in L1 (Zen 3's question: what its
 * integer and logic ops cost beside the 9 FMAs): per vector the same
 * chain as exp.ts's emitExpNormal with `oneUlp` ("noscale": the FMAs
 * alone; "nocheck": + the exponent add; "full": + the rare-path test, a
 * compare per vector or-ed; "maxud": the test as Lanes.rarelyAbove fuses
 * it, the values' maximum compared once), "indep" the 9 FMAs without
 * their chain (the pipes' bound); a trailing L loads x and a constant
 * again where the others copy registers, a trailing M tests the mask by
 * `vmovmskps` and `test` instead of `vtestps`. Streams: vectors interleaved per
 * step (constants the registers left hold, the rest from memory). Rounds
 * alternate the loops; medians in ns and cycles a vector at `--ghz`.
 *
 *   deno run -A bench/exp_probe.ts [indep:3,noscale:3,nocheck:3,full:3,maxud:3,full:2] [--ghz 3.1]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { assemble } from "../asm/mod.ts";
import { CodeArena } from "../src/native/arena.ts";
import { EXP_POLY, INTEGERS, LN2_HI, LN2_LO, NORMAL_LIMIT } from "../src/kernels/math/exp.ts";
import { dispatch } from "../src/native/dispatch.ts";
import { NativeBlock } from "../src/native/memory.ts";
import { median } from "./timing.ts";

const C = (i: number) => `ymmword ptr [rdi+${64 + 32 * i}]`;
// The constants emitExpNormal's `oneUlp` form reads: 0 INTEGERS 1 one 2 log2 e 3 −LN2_HI 4 −LN2_LO
// 5..9 the polynomial's c6..c2; then SIGNLESS and |x|'s limit as bits (written below).
const consts = [INTEGERS, 1, Math.LOG2E, -LN2_HI, -LN2_LO, ...EXP_POLY.slice(2).reverse()];
/** The loop: `kind` (see above) over 126 vectors of x, `streams` a step, [rdi] times. */
function build(kind: string, streams: number): Uint8Array {
  const L: string[] = [];
  const pinned = 16 - 4 * streams;
  const k = (i: number) => (i < pinned ? `ymm${15 - i}` : C(i));
  for (let i = 0; i < pinned; i++) L.push(`vmovups ymm${15 - i}, ${C(i)}`);
  L.push("mov eax, dword ptr [rdi]");
  L.push("top:");
  L.push("lea r8, [rdi+1024]");
  L.push("lea r9, [rdi+8192]");
  L.push(`mov ecx, ${Math.floor(126 / streams)}`);
  L.push("inner:");
  const S = [...Array(streams).keys()];
  const R = (i: number, j: number) => `ymm${4 * i + j}`;
  const each = (f: (i: number) => string) => S.forEach((i) => L.push(f(i)));
  each((i) => `vmovups ${R(i, 0)}, ymmword ptr [r8+${32 * i}]`);
  if (kind === "indep") {
    // 9 FMAs per vector, no chain between them.
    for (let j = 0; j < 9; j++) {
      each((i) => `vfmadd231ps ${R(i, 1 + (j % 3))}, ${R(i, 0)}, ${k(j % 2 ? 2 : 3)}`);
    }
  } else {
    const ld = kind.endsWith("L");
    if (ld) kind = kind.slice(0, -1);
    const msk = kind.endsWith("M");
    if (msk) kind = kind.slice(0, -1);
    each((i) => `vmovups ${R(i, 2)}, ${ld ? C(2) : k(2)}`);
    each((i) => `vfmadd213ps ${R(i, 2)}, ${R(i, 0)}, ${k(0)}`); // s
    each((i) => `vsubps ${R(i, 1)}, ${R(i, 2)}, ${k(0)}`); // n
    if (ld) {
      each((i) => `vmovups ${R(i, 3)}, ymmword ptr [r8+${32 * i}]`);
      each((i) => `vfmadd231ps ${R(i, 3)}, ${R(i, 1)}, ${k(3)}`);
    } else {
      each((i) => `vmovaps ${R(i, 3)}, ${R(i, 1)}`);
      each((i) => `vfmadd132ps ${R(i, 3)}, ${R(i, 0)}, ${k(3)}`);
    }
    each((i) => `vfmadd231ps ${R(i, 3)}, ${R(i, 1)}, ${k(4)}`);
    each((i) => `vmovups ${R(i, 1)}, ${k(5)}`);
    for (let c = 6; c <= 9; c++) each((i) => `vfmadd213ps ${R(i, 1)}, ${R(i, 3)}, ${k(c)}`);
    each((i) => `vfmadd213ps ${R(i, 1)}, ${R(i, 3)}, ${k(1)}`);
    each((i) => `vfmadd213ps ${R(i, 1)}, ${R(i, 3)}, ${k(1)}`);
    if (kind !== "noscale") {
      each((i) => `vpslld ${R(i, 2)}, ${R(i, 2)}, 23`);
      each((i) => `vpaddd ${R(i, 1)}, ${R(i, 1)}, ${R(i, 2)}`);
    }
    if (kind === "full" || kind === "maxud") {
      each((i) => `vandps ${R(i, 3)}, ${R(i, 0)}, ${k(10)}`);
      if (kind === "full") {
        each((i) => `vpcmpgtd ${R(i, 3)}, ${R(i, 3)}, ${k(11)}`);
        for (let i = 1; i < streams; i++) L.push(`vorps ${R(0, 3)}, ${R(0, 3)}, ${R(i, 3)}`);
      } else {
        for (let i = 1; i < streams; i++) L.push(`vpmaxsd ${R(0, 3)}, ${R(0, 3)}, ${R(i, 3)}`);
        L.push(`vpcmpgtd ${R(0, 3)}, ${R(0, 3)}, ${k(11)}`);
      }
      if (msk) L.push(`vmovmskps edx, ${R(0, 3)}`, "test edx, edx");
      else L.push(`vtestps ${R(0, 3)}, ${R(0, 3)}`);
      L.push("jnz out");
    }
  }
  each((i) => `vmovups ymmword ptr [r9+${32 * i}], ${R(i, 1)}`);
  L.push(`add r8, ${32 * streams}`);
  L.push(`add r9, ${32 * streams}`);
  L.push("dec ecx");
  L.push("jnz inner");
  L.push("dec eax");
  L.push("jnz top");
  L.push("out:");
  L.push("vzeroupper");
  L.push("ret");
  return assemble(L.join("\n"));
}
const arena = new CodeArena({ budgetBytes: 1 << 20, chunkBytes: 1 << 20 });
const blk = new NativeBlock(16384);
const f = new Float32Array(blk.i32.buffer, blk.i32.byteOffset, 4096);
consts.forEach((c, i) => f.fill(c, 16 + 8 * i, 24 + 8 * i));
blk.i32.fill(0x7fffffff, 16 + 80, 16 + 88);
blk.f32.fill(NORMAL_LIMIT, 16 + 88, 16 + 96);
for (let i = 0; i < 1024; i++) f[256 + i] = Math.sin(i) * 4;
const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { ghz: { type: "string", default: "3.1" } },
  allowPositionals: true,
});
const ghz = Number(values.ghz);
const variants: [string, number][] = (positionals[0] ??
  "indep:3,noscale:3,nocheck:3,full:3,maxud:3,full:2,maxud:2").split(",").map((v) => {
    const [k, s] = v.split(":");
    return [k, Number(s)];
  });
const codes = variants.map(([k, s]) => arena.install(build(k, s)));
const res: number[][] = variants.map(() => []);
const ITER = 20000;
blk.i32[0] = ITER;
for (let r = 0; r < 41; r++) {
  variants.forEach(([, s], i) => {
    const t = performance.now();
    dispatch().call(codes[i].pointer, blk.pointer);
    const ns = (performance.now() - t) * 1e6;
    res[i].push(ns / (ITER * Math.floor(126 / s) * s));
  });
}
variants.forEach(([k, s], i) =>
  console.log(
    `${k} streams ${s}: ${median(res[i]).toFixed(3)} ns/vector, ${
      (median(res[i]) * ghz).toFixed(2)
    } cycles at ${ghz} GHz`,
  )
);
