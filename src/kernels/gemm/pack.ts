/**
 * Packing routines of the blocked GEMM, emitted inline with run-time counts.
 *
 * B block (kc × nc) → panels of NR columns, each kc rows of NR floats
 * (zero-padded past the last column), so the microkernel streams one panel
 * contiguously from L2. A micro-panel (mr × kc) → kc groups of MR floats
 * (zero-padded past row mr), so it sits in L1, contiguous, whatever A's
 * leading dimension is. Row-contiguous sources copy with vectors; the
 * transposing cases copy element by element.
 *
 * @module
 */
import { type Assembler, dword, GP32, type Reg } from "../../../asm/mod.ts";
import type { Vec } from "../vec.ts";

/** Registers a packing loop may use as scratch. */
export interface PackRegs {
  src: Reg;
  dst: Reg;
  i: Reg;
  j: Reg;
  t: Reg;
}

/**
 * Copies `rows` rows of `width` floats (constants) from src (row stride
 * `srcStride` bytes) to dst (row stride `dstStride` bytes), zero-filling
 * columns width..padWidth-1. Vector chunks, then scalar columns. Advances src/dst.
 */
export function emitCopyRows(
  v: Vec,
  r: PackRegs,
  rows: Reg | number,
  width: number,
  padWidth: number,
  srcStride: number,
  dstStride: number,
): void {
  const a = v.a;
  const lanes = v.isa.lanes;
  const x0 = 0;
  const body = () => {
    let j = 0;
    for (; j + lanes <= width; j += lanes) {
      v.load(x0 + ((j / lanes) % 8), r.src, j * 4);
      v.store(r.dst, j * 4, x0 + ((j / lanes) % 8));
    }
    for (; j < width; j++) {
      a.emit("mov", gp32(r.t), dword(r.src, j * 4));
      a.emit("mov", dword(r.dst, j * 4), gp32(r.t));
    }
    if (padWidth > width) {
      v.zero(8);
      let z = width;
      for (; z < padWidth && z % lanes !== 0; z++) a.emit("mov", dword(r.dst, z * 4), 0);
      for (; z + lanes <= padWidth; z += lanes) v.store(r.dst, z * 4, 8);
      for (; z < padWidth; z++) a.emit("mov", dword(r.dst, z * 4), 0);
    }
    a.emit("add", r.src, srcStride);
    a.emit("add", r.dst, dstStride);
  };
  loop(a, r.i, rows, body);
}

/**
 * Transposing copy: `cols` source rows (stride srcStride bytes), each read
 * along `rows` consecutive floats, become `rows` destination rows of `cols`
 * floats (stride dstStride), zero-padded to padCols. Scalar: used for
 * transposed B, where the alternative is a gather per element anyway.
 */
export function emitTransposeCopy(
  v: Vec,
  r: PackRegs,
  rows: Reg | number,
  cols: number,
  padCols: number,
  srcStride: number,
  dstStride: number,
): void {
  const a = v.a;
  loop(a, r.i, rows, () => {
    for (let c = 0; c < cols; c++) {
      a.emit("mov", gp32(r.t), dword(r.src, c * srcStride));
      a.emit("mov", dword(r.dst, c * 4), gp32(r.t));
    }
    for (let c = cols; c < padCols; c++) a.emit("mov", dword(r.dst, c * 4), 0);
    a.emit("add", r.src, 4);
    a.emit("add", r.dst, dstStride);
  });
}

function gp32(r: Reg): Reg {
  return GP32[r.id];
}

function loop(a: Assembler, counter: Reg, count: Reg | number, body: () => void): void {
  if (typeof count === "number") {
    if (count <= 0) return;
    if (count === 1) return body();
    a.emit("mov", counter, count);
  } else {
    a.emit("mov", counter, count);
    a.emit("test", counter, counter);
  }
  const top = a.label(), done = a.label();
  if (typeof count !== "number") a.emit("jz", done);
  a.bind(top);
  body();
  a.emit("dec", counter);
  a.emit("jnz", top);
  a.bind(done);
}
