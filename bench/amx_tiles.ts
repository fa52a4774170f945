/**
 * What AMX tiles cost on this machine, apart from any GEMM: `tdpbusd` on
 * tiles already loaded (the product's own rate), 4 tile loads from L1 with
 * no product, and a 2 × 2 block's step (4 loads, 4 products) as the 8-bit
 * GEMM's AMX kernel runs it (`src/kernels/qgemm/amx.ts`). Medians of 5 runs
 * of 100,000 iterations each; ns per instruction and TOPS (2 ops a product).
 *
 *   deno run -A bench/amx_tiles.ts
 *
 * @module
 */
import { Assembler, ptr, rax, rcx, rdi, rsi, TMM } from "../asm/mod.ts";
import { cpuFeatures, requestAmxPermission } from "../src/cpu.ts";
import { CodeArena } from "../src/native/arena.ts";
import { dispatch } from "../src/native/dispatch.ts";
import { NativeBlock, viewAddress } from "../src/native/memory.ts";

if (!cpuFeatures().amxInt8 || !requestAmxPermission()) {
  console.log("no AMX int8 tiles here (or Linux did not grant the tile state): nothing to measure");
  Deno.exit(0);
}
const ITERATIONS = 100_000;
const arena = new CodeArena();
const data = new Float32Array(64 << 10); // 256 KiB: every tile's rows 64 bytes apart, in L1
const args = new NativeBlock(64);
args.f64[0] = viewAddress(data);

/** A loop of `body` (tiles 0-3 C, 4-5 A, 6-7 B, all 16 rows × 64 bytes; rsi the data). */
function kernel(
  body: (load: (t: number) => void, product: (c: number, x: number, y: number) => void) => void,
) {
  const a = new Assembler();
  const cfg = new Uint8Array(64);
  cfg[0] = 1;
  for (let t = 0; t < 8; t++) {
    cfg[16 + 2 * t] = 64;
    cfg[48 + t] = 16;
  }
  a.emit("ldtilecfg", ptr(a.constant(cfg, 64)));
  a.emit("cvttsd2si", rsi, ptr(rdi, 0).withSize(8));
  a.emit("mov", rcx, 64);
  for (let t = 0; t < 8; t++) a.emit("tilezero", TMM[t]);
  a.emit("mov", rax, ITERATIONS);
  const top = a.label();
  a.bind(top);
  body(
    (t) => a.emit("tileloadd", TMM[t], ptr(rsi, (t - 4) * 1024, rcx, 1)),
    (c, x, y) => a.emit("tdpbusd", TMM[c], TMM[x], TMM[y]),
  );
  a.emit("dec", rax);
  a.emit("jnz", top);
  a.emit("tilerelease");
  a.emit("ret");
  return arena.install(a.finish().code);
}

const block = (p: (c: number, x: number, y: number) => void) => {
  p(0, 4, 6);
  p(1, 4, 7);
  p(2, 5, 6);
  p(3, 5, 7);
};
const cases: [string, ReturnType<typeof kernel>, number, number][] = [
  ["4 products, tiles loaded", kernel((_l, p) => block(p)), 0, 4],
  ["4 tile loads (L1), no product", kernel((l) => [4, 5, 6, 7].forEach(l)), 4, 0],
  [
    "2×2 block step: 4 loads, 4 products",
    kernel((l, p) => {
      [4, 5, 6, 7].forEach(l);
      block(p);
    }),
    4,
    4,
  ],
];
for (const [name, code, loads, products] of cases) {
  const times: number[] = [];
  for (let r = 0; r < 6; r++) {
    const t = performance.now();
    dispatch().call(code.pointer, args.pointer);
    if (r > 0) times.push(performance.now() - t);
  }
  const ms = times.sort((x, y) => x - y)[2];
  const ns = (ms * 1e6) / ITERATIONS;
  const ops = ITERATIONS * products * 16 * 16 * 64 * 2;
  console.log(
    `${name.padEnd(38)} ${ns.toFixed(1).padStart(6)} ns per iteration` +
      (loads ? `, ${(ns / loads).toFixed(1)} ns per load` : "") +
      (products ? `, ${(ops / ms / 1e9).toFixed(2)} TOPS` : ""),
  );
}
arena.close();
