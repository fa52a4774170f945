/**
 * Cost of entering machine code from TypeScript: the trampoline fast path
 * (what the runtime uses), a plain dlopen'd libc call for reference, and
 * `Deno.UnsafeFnPointer.call` (Deno's generic path). Each iteration makes
 * 100 calls, so the per-call cost is the time per iteration / 100.
 */
import { Assembler } from "../asm/mod.ts";
import { CodeArena } from "../src/native/arena.ts";
import { dispatch } from "../src/native/dispatch.ts";
import { libc } from "../src/native/libc.ts";
import { NativeBlock } from "../src/native/memory.ts";

const arena = new CodeArena();
const a = new Assembler();
a.emit("ret");
const ret = arena.install(a.finish().code);
const block = new NativeBlock(64);
const d = dispatch();
const c = libc();
const slow = ret.fnPointer;
const CALLS = 100;

Deno.bench({
  name: "empty loop (x100)",
  group: "dispatch",
  fn() {
    let s = 0;
    for (let i = 0; i < CALLS; i++) s += i;
    if (s < 0) throw new Error();
  },
});
Deno.bench({
  name: "trampoline fast path into JIT code (x100)",
  group: "dispatch",
  baseline: true,
  fn() {
    for (let i = 0; i < CALLS; i++) d.call(ret.pointer, block.pointer);
  },
});
Deno.bench({
  name: "dlopen'd libc abs() (x100)",
  group: "dispatch",
  fn() {
    for (let i = 0; i < CALLS; i++) c.abs(i);
  },
});
Deno.bench({
  name: "Deno.UnsafeFnPointer.call into JIT code (x100)",
  group: "dispatch",
  fn() {
    for (let i = 0; i < CALLS; i++) slow.call(block.pointer);
  },
});
