import assert from "node:assert/strict";
import {
  assemble,
  assembleProgram,
  Assembler,
  AssemblerError,
  dword,
  eax,
  GP8H,
  GROUPS,
  ptr,
  qword,
  r12,
  r8,
  rax,
  rcx,
  rsp,
  TABLE,
  XMM,
  YMM,
  ZMM,
} from "../asm/mod.ts";
import { C } from "../asm/operands.ts";
import { allCases } from "./asm/cases.ts";
import { assembleWithGas, gasAvailable } from "./asm/gas.ts";
import { readGolden } from "./asm/golden.ts";

const hex = (b: Uint8Array | null) =>
  b === null ? "rejected" : Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
const same = (x: Uint8Array | null, y: Uint8Array | null) =>
  x === null || y === null ? x === y : x.length === y.length && x.every((v, i) => v === y[i]);

/** Our bytes for one instruction given as operands, and the row that encoded it. */
function ours(mnemonic: string, ops: Parameters<Assembler["emitOperands"]>[1]) {
  try {
    const a = new Assembler({ listing: true });
    a.emitOperands(mnemonic, ops);
    const p = a.finish();
    return { bytes: p.code, row: p.entries[0].row };
  } catch (e) {
    if (!(e instanceof AssemblerError)) throw e;
    return { bytes: null, row: -1 };
  }
}

function parsed(text: string): Uint8Array | null {
  try {
    return assemble(text);
  } catch (e) {
    if (!(e instanceof AssemblerError)) throw e;
    return null;
  }
}

Deno.test({
  name: "asm: every table row, every generated case, byte-identical to GNU as",
  ignore: !gasAvailable(),
  fn() {
    const cases = allCases();
    const gas = assembleWithGas(cases.map((c) => c.text));
    const mismatches: string[] = [];
    const used = new Set<number>();
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i];
      const o = ours(c.mnemonic, c.ops);
      if (o.row >= 0) used.add(o.row);
      const t = parsed(c.text);
      if (!same(o.bytes, gas[i]) || !same(t, gas[i])) {
        mismatches.push(`${c.text}: as ${hex(gas[i])}, ours ${hex(o.bytes)}, parsed ${hex(t)}`);
      }
    }
    assert.equal(mismatches.length, 0, mismatches.slice(0, 20).join("\n"));
    // Coverage: every row without a label operand encoded at least one case.
    const unused = TABLE.map((spec, i) => ({ spec, i })).filter(({ i }) => {
      const row = [...GROUPS.values()].flat().find((r) => r.index === i)!;
      return !row.ops.some((s) => s.accept & C.REL) && !used.has(i);
    });
    assert.deepEqual(unused.map((u) => u.spec.join(" | ")), []);
    assert.ok(cases.length > 100_000, `only ${cases.length} cases`);
  },
});

Deno.test("asm: golden vectors (GNU as bytes, committed) assemble identically from text", async () => {
  const golden = await readGolden();
  assert.ok(golden.length > 100_000);
  const bad: string[] = [];
  for (const g of golden) {
    const t = parsed(g.text);
    if (!same(t, g.bytes)) bad.push(`${g.text}: as ${hex(g.bytes)}, ours ${hex(t)}`);
  }
  assert.equal(bad.length, 0, bad.slice(0, 20).join("\n"));
});

Deno.test("asm: the listing of every golden case parses back to identical bytes", async () => {
  const golden = (await readGolden()).filter((g) => g.bytes !== null);
  const program = assembleProgram(golden.map((g) => g.text).join("\n"));
  // Each entry is one case, in order, with the golden bytes.
  assert.equal(program.entries.length, golden.length);
  program.entries.forEach((e, i) => {
    const b = program.code.subarray(e.offset, e.offset + e.length);
    if (!same(b, golden[i].bytes)) assert.fail(`${golden[i].text}: ${hex(b)}`);
  });
  const again = assembleProgram(program.listing());
  assert.ok(same(again.code, program.code), "listing does not reassemble to the same bytes");
});

Deno.test("asm: labels, jumps, alignment and constants", async (t) => {
  await t.step("backward jumps take the shortest form, as GNU as", () => {
    const text = [
      "top:",
      "dec rcx",
      "jnz top",
      ...Array(40).fill("add rax, 0x12345"),
      "jnz top",
      "jmp top",
      "call top",
    ].join("\n");
    const ourBytes = assemble(text);
    if (gasAvailable()) {
      const [g] = assembleWithGas([text.split("\n").join("; ")]);
      assert.equal(hex(ourBytes), hex(g));
    }
    // dec rcx (3) + jnz rel8 (2) at the start; the later jnz is rel32 (6 bytes).
    assert.deepEqual([...ourBytes.subarray(3, 5)], [0x75, 0xfb]);
  });
  await t.step("forward jumps are rel32 unless written short", () => {
    const a = new Assembler();
    const end = a.label("end");
    a.emit("jmp", end);
    a.emit("je", end.short);
    a.emit("nop");
    a.bind(end);
    a.emit("ret");
    assert.equal(hex(a.finish().code), "e9 03 00 00 00 74 01 90 c3");
  });
  await t.step("a short jump out of range throws at finish", () => {
    const a = new Assembler();
    const far = a.label("far");
    a.emit("jmp", far.short);
    for (let i = 0; i < 200; i++) a.emit("nop");
    a.bind(far);
    assert.throws(
      () => a.finish(),
      (e: unknown) => e instanceof AssemblerError && /rel8/.test(e.message),
    );
  });
  await t.step("align pads with multi-byte NOPs", () => {
    const a = new Assembler({ listing: true });
    a.emit("ret");
    a.align(16);
    const p = a.finish();
    assert.equal(p.code.length, 16);
    assert.equal(hex(p.code.subarray(1, 10)), "66 0f 1f 84 00 00 00 00 00");
    assert.ok(same(assemble(p.listing()), p.code));
  });
  await t.step("out-of-line code goes after the code, before the constants, in order", () => {
    const a = new Assembler({ listing: true });
    const [cold, back, colder] = [a.label("cold"), a.label("back"), a.label("colder")];
    a.emit("test", rax, rax);
    a.emit("jnz", cold);
    a.bind(back);
    a.emit("ret");
    a.outOfLine((to) => {
      to.bind(cold);
      to.emit("jz", colder);
      to.emit("vbroadcastss", YMM[0], dword(to.constant(new Float32Array([2]))));
      to.emit("jmp", back);
      to.outOfLine((deeper) => deeper.bind(colder).emit("jmp", back)); // queued from a body
    });
    const p = a.finish();
    // test (3) + jnz rel32 (6) + ret (1) | jz rel32 (6) + vbroadcastss (9) + jmp back rel8 (2)
    // | jmp back rel8 (2); the constant on the next 16 bytes.
    assert.deepEqual([p.labels.get("cold"), p.labels.get("colder"), p.codeBytes], [10, 27, 29]);
    assert.equal(p.labels.get("C0"), 32);
    assert.ok(same(assemble(p.listing()), p.code));
    assert.throws(() => a.outOfLine(() => {}), AssemblerError);
  });
  await t.step("constants are pooled after the code and reached RIP-relative", () => {
    const a = new Assembler({ listing: true });
    const c1 = a.constant(new Float32Array([1.5]));
    a.emit("vbroadcastss", YMM[0], dword(c1));
    a.emit("vbroadcastss", YMM[1], dword(a.constant(new Float32Array([1.5]))));
    a.emit("ret");
    const p = a.finish();
    // Two loads of the same constant share it: 9 + 9 + 1 bytes of code, pad, 4 bytes.
    assert.equal(p.codeBytes, 19);
    assert.equal(p.labels.get("C0"), 32);
    assert.equal(hex(p.code.subarray(0, 9)), "c4 e2 7d 18 05 17 00 00 00");
    assert.equal(new Float32Array(p.code.slice(32, 36).buffer)[0], 1.5);
    assert.ok(same(assemble(p.listing()), p.code));
  });
});

Deno.test("asm: every error kind throws AssemblerError naming instruction and reason", async (t) => {
  const throwsWith = (f: () => unknown, re: RegExp) =>
    assert.throws(f, (e: unknown) => e instanceof AssemblerError && re.test(e.message));
  await t.step("operand combination the table lacks", () => {
    throwsWith(() => new Assembler().emit("vaddps", ZMM[0], YMM[1], XMM[2]), /no form of vaddps/);
    throwsWith(() => assemble("movss xmm16, xmm1"), /no form of movss/); // legacy SSE has no xmm16
  });
  await t.step(
    "unknown mnemonic",
    () => throwsWith(() => assemble("frobnicate rax"), /unknown mnemonic/),
  );
  await t.step("register that cannot take a needed REX prefix", () => {
    throwsWith(() => new Assembler().emit("mov", GP8H[0], ptr(r8).withSize(1)), /REX/);
    throwsWith(() => assemble("add ah, sil"), /REX/);
  });
  await t.step("immediate that does not fit", () => {
    throwsWith(() => new Assembler().emit("add", eax, 0x1_0000_0000), /immediate .* does not fit/);
    throwsWith(() => assemble("shl rax, 256"), /does not fit/);
    throwsWith(() => assemble("add rax, 0x80000000"), /does not fit/);
  });
  await t.step("displacement that does not fit", () => {
    throwsWith(() => qword(rax, 0x8000_0000), /displacement/);
    throwsWith(() => assemble("mov rax, qword ptr [rcx+0x80000000]"), /displacement/);
  });
  await t.step("bad memory operands", () => {
    throwsWith(() => ptr(rax, 0, rsp), /rsp cannot be an index/);
    throwsWith(() => ptr(eax), /64-bit register/);
    throwsWith(() => assemble("add [rax], 1"), /ambiguous operand size/);
  });
  await t.step("label bound twice, or referenced and never bound", () => {
    const a = new Assembler();
    const l = a.label("twice");
    a.bind(l);
    throwsWith(() => a.bind(l), /bound twice/);
    const b = new Assembler();
    b.emit("jmp", b.label("nowhere"));
    throwsWith(() => b.finish(), /never bound/);
    throwsWith(() => assemble("jmp nowhere"), /never bound/);
  });
  await t.step("masks where the form takes none", () => {
    throwsWith(
      () => new Assembler().emit("vaddps", YMM[0].k(ZMM[0] as never), YMM[1], YMM[2]),
      /mask/,
    );
  });
  await t.step("AMX tile products need distinct registers", () => {
    throwsWith(() => assemble("tdpbf16ps tmm0, tmm0, tmm1"), /no form/);
  });
});

Deno.test("asm: hand-checked encodings of the hard cases", () => {
  const cases: [string, string][] = [
    ["mov rax, qword ptr [r12]", "49 8b 04 24"],
    ["mov rax, qword ptr [r13]", "49 8b 45 00"],
    ["lea rax, [rsp+rcx*8-0x80]", "48 8d 44 cc 80"],
    ["vfmadd231ps zmm0, zmm1, dword ptr [rax+0x40]{1to16}", "62 f2 75 58 b8 40 10"],
    ["vmovups zmmword ptr [rax+0x2000]{k1}, zmm31", "62 61 7c 49 11 b8 00 20 00 00"],
    ["vmovups zmmword ptr [rax+0x1fc0], zmm31", "62 61 7c 48 11 78 7f"],
    ["vmovaps xmm0, xmm8", "c5 78 29 c0"],
    ["tileloadd tmm1, [rax+rcx*4]", "c4 e2 7b 4b 0c 88"],
    // The thread pool's atomics, prefix on the same line as GNU as takes it (objdump's bytes).
    ["lock xadd dword ptr [rdi], eax", "f0 0f c1 07"],
    ["lock xadd qword ptr [rdi+0x8], rax", "f0 48 0f c1 47 08"],
    ["lock cmpxchg qword ptr [r12], rcx", "f0 49 0f b1 0c 24"],
  ];
  for (const [text, bytes] of cases) assert.equal(hex(assemble(text)), bytes, text);
  const a = new Assembler();
  a.emit("mov", qword(r12, 8), rcx);
  assert.equal(hex(a.finish().code), "49 89 4c 24 08");
});
