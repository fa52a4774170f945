/**
 * The strided copy kernel: loops over the outer dims (counters on the
 * stack, each level's running pointers in its own registers), and the
 * shared elementwise rows pass (f = none: a move) over the innermost two:
 * rows of contiguous elements, or single elements as rows when the
 * innermost dim is strided. Moves copy bits, so any element type of 4 bytes
 * (and 8-byte types as pairs) copies exactly.
 *
 * @module
 */
import { Assembler, type Program, qword, rax, rdx, rsi, rsp } from "../../../asm/mod.ts";
import { addImmediate, frameLoop, loadPointer } from "../abi.ts";
import { emitRowsPass } from "../elementwise.ts";
import { Vec, vecIsa, type VecLevel } from "../vec.ts";
import { COPY_ARG, type CopySpec } from "./spec.ts";
import { emitTransposePass, transposeLines, transposeServes } from "./transpose.ts";

/** How a copy kernel is built. */
export interface CopyPlan {
  isa: VecLevel;
  workspaceBytes: 0;
  description: string;
}

/** The plan: the ISA only (the loop shape follows from the spec). */
export function planCopy(s: CopySpec, isa: VecLevel): CopyPlan {
  const n = s.dims.length, rows = s.xStrides[n - 1] === 1 && s.yStrides[n - 1] === 1;
  const transposes = !rows && transposeServes(s, isa);
  const lines =
    transposes && n >= 2 && transposeLines(isa, { rows: s.dims[n - 2], ldx: s.xStrides[n - 1] })
      ? ", bands from x's lines when off them"
      : "";
  return {
    isa,
    workspaceBytes: 0,
    description: `${isa} copy, ${
      rows
        ? "contiguous rows"
        : transposes
        ? `${isa === "avx512" ? "16×16" : "8×8"} transposes${lines}`
        : "element by element"
    }`,
  };
}

/** Most outer loop levels (the reader's limit: 5 dims, or 4 with a strided last dim). */
const MAX_LEVELS = 3;
/** Frame: loop counters, then each level's running x and y pointers (level 0: the call's). */
const COUNTER = (l: number) => 8 * l;
const XP = (l: number) => 8 * MAX_LEVELS + 16 * l;
const YP = (l: number) => 8 * MAX_LEVELS + 16 * l + 8;
const FRAME = 8 * MAX_LEVELS + 16 * (MAX_LEVELS + 1);

/** Emits `void kernel(args)`: y[Σ idx·yStride] = x[Σ idx·xStride] over the spec's dims. */
export function generateCopy(s: CopySpec, plan: CopyPlan, options: { listing: boolean }): Program {
  const a = new Assembler({ listing: options.listing });
  const isa = vecIsa(plan.isa);
  const n = s.dims.length;
  const contiguous = s.xStrides[n - 1] === 1 && s.yStrides[n - 1] === 1;
  const transpose = !contiguous && transposeServes(s, plan.isa);
  // The rows pass: [rows, cols] with row strides; the dims outside it loop here.
  // As small integers (`| 0`): V8 gives object literals that begin with the same names
  // one tree of maps, so a double stored in the pass options' `rows`/`cols` below
  // deprecated the maps of callers' option objects ({ rows, cols, ... }); a load from an
  // object of a deprecated map deoptimized its reader again and again (readNorm: 714
  // Maglev recompiles, ~0.9 bytes of heap a call; tests/fixtures/steady_alloc.ts).
  const cols = contiguous ? s.dims[n - 1] | 0 : 1;
  const r = contiguous || transpose ? n - 2 : n - 1; // index of the rows dim (−1: one row)
  const rows = r >= 0 ? s.dims[r] | 0 : 1;
  const rxs = r >= 0 ? s.xStrides[r] : 0, rys = r >= 0 ? s.yStrides[r] : 0;
  const outer = Math.max(r, 0);
  if (outer > MAX_LEVELS) {
    throw new Error(`copy: ${outer} outer dims (the reader allows ${MAX_LEVELS})`);
  }
  // Every pointer lives in the frame: the rows pass may use any scratch register.
  a.emit("sub", rsp, FRAME);
  loadPointer(a, rsi, COPY_ARG.X);
  loadPointer(a, rdx, COPY_ARG.Y);
  a.emit("mov", qword(rsp, XP(0)), rsi);
  a.emit("mov", qword(rsp, YP(0)), rdx);
  const level = (l: number): void => {
    if (l === outer) {
      a.emit("mov", rsi, qword(rsp, XP(l)));
      a.emit("mov", rdx, qword(rsp, YP(l)));
      if (transpose) {
        return emitTransposePass(a, new Vec(a, isa), {
          rows,
          cols: s.dims[n - 1] | 0,
          ldx: s.xStrides[n - 1],
          ldy: rys,
        });
      }
      emitRowsPass(a, isa, {
        rows,
        cols,
        x: rsi,
        xStride: rxs,
        y: rdx,
        yStride: rys,
        f: null,
        streams: 1,
      });
      return;
    }
    a.emit("mov", rax, qword(rsp, XP(l)));
    a.emit("mov", qword(rsp, XP(l + 1)), rax);
    a.emit("mov", rax, qword(rsp, YP(l)));
    a.emit("mov", qword(rsp, YP(l + 1)), rax);
    frameLoop(a, COUNTER(l), s.dims[l], () => {
      level(l + 1);
      addImmediate(a, "add", qword(rsp, XP(l + 1)), 4 * s.xStrides[l]);
      addImmediate(a, "add", qword(rsp, YP(l + 1)), 4 * s.yStrides[l]);
    });
  };
  level(0);
  a.emit("add", rsp, FRAME);
  new Vec(a, isa).leave();
  a.emit("ret");
  return a.finish();
}
