/**
 * The treeLeaves kernel: rows walked down a packed forest (pack.ts), up to
 * eight rows at a time through the same tree, each row's node a byte
 * offset in its own register. A step of one row is five loads, a compare
 * and a conditional move — no branch on the data, so no mispredicted walk —
 * and the rows' steps are independent chains the core overlaps (one row's
 * step is a chain of three dependent loads and a compare, ~15 cycles; eight
 * in flight fill the load ports). A tree is walked its depth's steps (a
 * leaf loops to itself), for a block of rows whose x stays in L1 before
 * the next tree, so a tree's nodes stay in L1 across the block too.
 *
 * The test's compare decides NaN: `ucomiss` sets ZF, PF and CF on an
 * unordered pair, so each test reads the flags that hold only for ordered
 * operands ("leq" as threshold ≥ x, CF clear); "eq" undoes ZF with PF,
 * "neq" takes PF as a difference; a forest with a missing-value track moves
 * in the record's NaN child where PF is set.
 *
 * @module
 */
import {
  al,
  Assembler,
  dl,
  dword,
  eax,
  ecx,
  edx,
  GP32,
  GP64,
  type Program,
  qword,
  r12,
  r13,
  r14,
  r15,
  r15d,
  rax,
  rbp,
  rbx,
  rcx,
  rdi,
  rdx,
  rsi,
  rsp,
  XMM,
} from "../../../asm/mod.ts";
import {
  addImmediate,
  countedLoop,
  frameLoop,
  loadPointer,
  restoreRegisters,
  runtimeLoop,
  saveRegisters,
} from "../abi.ts";
import type { KernelPlan } from "../family.ts";
import type { VecLevel } from "../vec.ts";
import { recordBytes } from "./pack.ts";
import { TREES_ARG, type TreesSpec } from "./read.ts";

/** A treeLeaves plan. */
export interface TreesPlan extends KernelPlan {
  isa: VecLevel;
  /** Rows walked together (registers r8..r15). */
  inFlight: number;
  /** Rows of a block: every tree walks them before the next block. */
  blockRows: number;
  /**
   * Trees in flight instead of rows: each row walks `inFlight` trees at a
   * time (a batch smaller than the rows in flight; one row alone is a chain
   * of dependent loads, and a forest past L2 makes each a cache miss).
   */
  byTrees: boolean;
}

/** Most rows in flight: the registers r8-r15 (r8-r14 for mixed tests, r15 their step counter). */
export const MAX_IN_FLIGHT = 8;
/** Bytes of x a block of rows aims at (in L1 beside a tree's nodes). */
const BLOCK_BYTES = 16384;
/** Most rows of a block (the block's leaves, rows × trees ints, stay in L2). */
const MAX_BLOCK_ROWS = 256;

/** The plan at `level`. */
export function planTrees(s: TreesSpec, level: VecLevel): TreesPlan {
  const rowBytes = 4 * s.features, leafStride = 4 * s.trees;
  // Displacements r·rowBytes and r·leafStride must fit a signed 32 bits.
  const most = s.test === "mixed" ? MAX_IN_FLIGHT - 1 : MAX_IN_FLIGHT;
  const inFlight = Math.max(
    1,
    Math.min(most, Math.floor((2 ** 31 - 1) / Math.max(rowBytes, leafStride)) + 1),
  );
  const perBlock = Math.floor(BLOCK_BYTES / (inFlight * rowBytes));
  const blockRows = inFlight *
    Math.max(1, Math.min(Math.floor(MAX_BLOCK_ROWS / inFlight), perBlock));
  const byTrees = s.rows < inFlight && s.trees > 1;
  return {
    isa: level,
    inFlight,
    blockRows,
    byTrees,
    workspaceBytes: 0,
    description: byTrees
      ? `${level} ${s.test} walk, ${inFlight} trees of a row in flight`
      : `${level} ${s.test} walk, ${inFlight} rows in flight, blocks of ${blockRows}`,
  };
}

/** Frame slots (bytes from rsp). */
const X_BLOCK = 0, LEAVES_AT = 8, TREE_AT = 16, TREES_LEFT = 24, BLOCKS_LEFT = 32, FRAME = 48;
const USED = [rbx, rbp, r12, r13, r14, r15];

/** Emits `void kernel(args)`. */
export function generateTrees(
  s: TreesSpec,
  p: TreesPlan,
  options: { listing?: boolean } = {},
): Program {
  const a = new Assembler({ listing: options.listing ?? false });
  const vex = p.isa === "avx2" || p.isa === "avx512";
  const movss = vex ? "vmovss" : "movss", ucomiss = vex ? "vucomiss" : "ucomiss";
  const rec = recordBytes(s.missing), shift = Math.log2(rec);
  const rowBytes = 4 * s.features, leafStride = 4 * s.trees;
  const R = p.inFlight, B = p.blockRows;
  const idx = (r: number) => GP64[8 + r], idx32 = (r: number) => GP32[8 + r];

  /**
   * One step of walk r (x's row at rsi + `at`): its node register moves to
   * the child the row's feature picks.
   */
  const step = (r: number, at: number) => {
    const I = idx(r), I32 = idx32(r), X = XMM[r];
    a.emit("mov", ecx, dword(rbx, 0, I)); // feature·4
    if (s.test === "leq" || s.test === "lt") {
      a.emit(movss, X, dword(rbx, 4, I));
      a.emit(ucomiss, X, dword(rsi, at, rcx)); // threshold against x
    } else {
      a.emit(movss, X, dword(rsi, at, rcx));
      a.emit(ucomiss, X, dword(rbx, 4, I)); // x against threshold
    }
    if (s.missing) a.emit("mov", eax, dword(rbx, 16, I));
    a.emit("mov", ecx, dword(rbx, 8, I)); // yes
    a.emit("mov", I32, dword(rbx, 12, I)); // no
    switch (s.test) {
      case "leq": // threshold ≥ x
      case "gte": // x ≥ threshold
        a.emit("cmovae", I32, ecx);
        break;
      case "lt":
      case "gt":
        a.emit("cmova", I32, ecx);
        break;
      case "eq": // ZF, unless unordered (PF): then yes is no
        a.emit("cmovp", ecx, I32);
        a.emit("cmove", I32, ecx);
        break;
      case "neq":
        a.emit("cmovne", I32, ecx);
        a.emit("cmovp", I32, ecx);
        break;
    }
    if (s.missing) a.emit("cmovp", I32, eax);
  };

  /**
   * One step of walk r under its node's own test: the state of x against the threshold (0
   * below, 1 above, 2 equal, 3 unordered: CF + 2·ZF of `ucomiss` threshold, x) picks the
   * node's go bit (`bt` of its mask), which picks the child.
   */
  const mixedStep = (r: number, at: number) => {
    const I = idx(r), I32 = idx32(r), X = XMM[r];
    a.emit("mov", ecx, dword(rbx, 0, I)); // feature·4
    a.emit(movss, X, dword(rbx, 4, I));
    a.emit(ucomiss, X, dword(rsi, at, rcx));
    a.emit("setc", al);
    a.emit("setz", dl);
    a.emit("movzx", eax, al);
    a.emit("movzx", edx, dl);
    a.emit("lea", eax, dword(rax, 0, rdx, 2)); // the state
    a.emit("mov", ecx, dword(rbx, 16, I)); // go mask
    a.emit("bt", ecx, eax); // CF: go
    a.emit("mov", ecx, dword(rbx, 8, I)); // yes
    a.emit("mov", I32, dword(rbx, 12, I)); // no
    a.emit("cmovc", I32, ecx);
  };
  const walk = s.test === "mixed" ? mixedStep : step;
  /** The register counting a walk's steps (rdx is a mixed step's temporary). */
  const steps = s.test === "mixed" ? r15 : rdx, steps32 = s.test === "mixed" ? r15d : edx;

  /** `n` rows from rsi (x) walked down the tree at [TREE_AT]; leaves stored from rdi. */
  const group = (n: number) => {
    a.emit("mov", rcx, qword(rsp, TREE_AT));
    a.emit("mov", eax, dword(rcx, 0)); // root
    a.emit("mov", steps32, dword(rcx, 4)); // depth
    for (let r = 0; r < n; r++) a.emit("mov", idx32(r), eax);
    runtimeLoop(a, steps, () => {
      for (let r = 0; r < n; r++) walk(r, r * rowBytes);
    });
    for (let r = 0; r < n; r++) {
      a.emit("shr", idx32(r), shift); // the node's number
      a.emit("mov", dword(rdi, r * leafStride), idx32(r));
    }
    addImmediate(a, "add", rsi, n * rowBytes);
    addImmediate(a, "add", rdi, n * leafStride);
  };

  /** A block of `rows` rows through every tree, then x and leaves past it. */
  const block = (rows: number) => {
    a.emit("lea", rax, qword(rbx, s.nodes * rec));
    a.emit("mov", qword(rsp, TREE_AT), rax);
    frameLoop(a, TREES_LEFT, s.trees, () => {
      a.emit("mov", rsi, qword(rsp, X_BLOCK));
      a.emit("mov", rdi, qword(rsp, LEAVES_AT));
      countedLoop(a, rbp, Math.floor(rows / R), () => group(R));
      if (rows % R) group(rows % R);
      a.emit("add", qword(rsp, TREE_AT), 8);
      a.emit("add", qword(rsp, LEAVES_AT), 4);
    });
    addImmediate(a, "add", qword(rsp, LEAVES_AT), (rows - 1) * leafStride);
    addImmediate(a, "add", qword(rsp, X_BLOCK), rows * rowBytes);
  };

  /**
   * `n` trees from [TREE_AT] walked by the row at rsi, as many steps as the
   * deepest of them; leaves stored from rdi.
   */
  const trees = (n: number) => {
    a.emit("mov", rcx, qword(rsp, TREE_AT));
    a.emit("mov", steps32, dword(rcx, 4));
    for (let t = 1; t < n; t++) {
      a.emit("cmp", steps32, dword(rcx, 8 * t + 4));
      a.emit("cmovb", steps32, dword(rcx, 8 * t + 4));
    }
    for (let t = 0; t < n; t++) a.emit("mov", idx32(t), dword(rcx, 8 * t));
    runtimeLoop(a, steps, () => {
      for (let t = 0; t < n; t++) walk(t, 0);
    });
    for (let t = 0; t < n; t++) {
      a.emit("shr", idx32(t), shift);
      a.emit("mov", dword(rdi, 4 * t), idx32(t));
    }
    a.emit("add", qword(rsp, TREE_AT), 8 * n);
    a.emit("add", rdi, 4 * n);
  };

  /** Each row through the trees, `R` at a time. */
  const byTrees = () => {
    frameLoop(a, BLOCKS_LEFT, s.rows, () => {
      a.emit("lea", rax, qword(rbx, s.nodes * rec));
      a.emit("mov", qword(rsp, TREE_AT), rax);
      a.emit("mov", rsi, qword(rsp, X_BLOCK));
      a.emit("mov", rdi, qword(rsp, LEAVES_AT));
      countedLoop(a, rbp, Math.floor(s.trees / R), () => trees(R));
      if (s.trees % R) trees(s.trees % R);
      addImmediate(a, "add", qword(rsp, X_BLOCK), rowBytes);
      addImmediate(a, "add", qword(rsp, LEAVES_AT), leafStride);
    });
  };

  saveRegisters(a, USED);
  a.emit("sub", rsp, FRAME);
  loadPointer(a, rax, TREES_ARG.X);
  a.emit("mov", qword(rsp, X_BLOCK), rax);
  loadPointer(a, rax, TREES_ARG.LEAVES);
  a.emit("mov", qword(rsp, LEAVES_AT), rax);
  loadPointer(a, rbx, TREES_ARG.FOREST);
  if (p.byTrees) byTrees();
  else {
    frameLoop(a, BLOCKS_LEFT, Math.floor(s.rows / B), () => block(B));
    if (s.rows % B) block(s.rows % B);
  }
  a.emit("add", rsp, FRAME);
  restoreRegisters(a, USED);
  if (vex) a.emit("vzeroupper");
  a.emit("ret");
  return a.finish();
}
