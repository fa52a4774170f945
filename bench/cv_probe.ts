/**
 * The channel-vector kernel's inner loop in isolation, data in L1: P
 * positions broadcast × V vectors of channels per k step, the broadcast
 * folded into each FMA ("embed") or loaded once into a register for V FMAs
 * ("bcast"), beside the same FMAs on registers only ("none", the bound).
 * Rounds alternate the loops; medians and their % of "none": why the kernel
 * takes two vectors, and where each CPU wants its broadcasts
 * (conv/channel_vectors.ts, `prefersEmbeddedBroadcast` in src/cpu.ts).
 * "bcast+pf" adds the kernel's prefetch of each weight vector's line a
 * k step (`WEIGHTS_AHEAD`; here of lines already in L1: what the
 * prefetches cost in issue and load slots alone).
 *
 *   deno run -A bench/cv_probe.ts
 *
 * @module
 */
import { Assembler, byte, dword, eax, ptr, rax, rdi, rdx, rsi, vreg, zmmword } from "../asm/mod.ts";
import { CodeArena } from "../src/native/arena.ts";
import { dispatch } from "../src/native/dispatch.ts";
import { NativeBlock } from "../src/native/memory.ts";
import { median } from "./timing.ts";
const z = (i: number) => vreg(512, i);
function build(kind: string, P: number, V: number): Uint8Array {
  const a = new Assembler();
  for (let i = 0; i < 32; i++) a.emit("vxorps", vreg(128, i), vreg(128, i), vreg(128, i));
  a.emit("mov", eax, dword(rdi, 0));
  a.emit("lea", rsi, ptr(rdi, 64));
  a.emit("lea", rdx, ptr(rdi, 1024));
  const top = a.label();
  a.align(64);
  a.bind(top);
  for (let t = 0; t < 8; t++) {
    const W = P * V;
    if (kind === "bcast+pf") {
      for (let v = 0; v < V; v++) a.emit("prefetcht0", byte(rsi, (t * V + v) * 64 + 4096));
    }
    for (let v = 0; v < V; v++) a.emit("vmovups", z(W + v), zmmword(rsi, (t * V + v) * 64));
    for (let p = 0; p < P; p++) {
      if (kind === "none") {
        for (let v = 0; v < V; v++) a.emit("vfmadd231ps", z(p * V + v), z(W + v), z(W + V));
      } else if (kind === "embed") {
        for (let v = 0; v < V; v++) {
          a.emit("vfmadd231ps", z(p * V + v), z(W + v), dword(rdx, (p + t * 3) * 4).b);
        }
      } else {
        const B = P * V + V + (p % 2);
        a.emit("vbroadcastss", z(B), dword(rdx, (p + t * 3) * 4));
        for (let v = 0; v < V; v++) a.emit("vfmadd231ps", z(p * V + v), z(W + v), z(B));
      }
    }
  }
  a.emit("dec", rax);
  a.emit("jnz", top);
  a.emit("vzeroupper");
  a.emit("ret");
  return a.finish().code;
}
const arena = new CodeArena({ budgetBytes: 1 << 20, chunkBytes: 1 << 20 });
const blk = new NativeBlock(8192);
const variants: [string, number, number][] = [
  ["none", 14, 2],
  ["embed", 14, 1],
  ["bcast", 14, 1],
  ["embed", 16, 1],
  ["embed", 14, 2],
  ["bcast", 14, 2],
  ["bcast+pf", 14, 2],
  ["bcast", 7, 2],
  ["embed", 8, 3],
  ["bcast", 8, 3],
  ["embed", 6, 4],
  ["bcast", 6, 4],
  ["bcast+pf", 6, 4],
];
const codes = variants.map(([k, P, V]) => arena.install(build(k, P, V)));
const res: number[][] = variants.map(() => []);
blk.i32[0] = 100000;
for (let r = 0; r < 15; r++) {
  variants.forEach(([, P, V], i) => {
    const t = performance.now();
    dispatch().call(codes[i].pointer, blk.pointer);
    const s = (performance.now() - t) / 1000;
    res[i].push((100000 * 8 * P * V * 32) / s / 1e9);
  });
}
variants.forEach(([k, P, V], i) => {
  const pct = median(res[i].map((g, r) => g / res[0][r]));
  console.log(
    `${k} P=${P} V=${V}: median ${median(res[i]).toFixed(0)} GFLOPS, ${
      (100 * pct).toFixed(0)
    }% of "none"`,
  );
});
