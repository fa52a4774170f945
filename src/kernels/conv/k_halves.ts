/**
 * A 1×1 layer that narrows many input channels to few (a MobileNetV2 block's
 * projection, a ResNet bottleneck's reduction) on a small image sums its
 * input channels in two halves: y = act(((Σ second half) + (Σ first half))
 * + bias + residual), each half one FMA chain in order. That is its
 * numerics whatever the thread count, so a split call may give each half to
 * a core: a part sums the input channels the layer before wrote on its own
 * core (that layer split over output channels) and reads half of the
 * weights, where a split over output channels has every core read all of
 * x, half of it from the other core, and leaves x's lines shared between
 * the cores, which the next layer's writes must then take back.
 *
 * On one core (or split over output channels or rows) a channel-vector
 * tile sums both halves itself, the first's sums waiting in the frame
 * (`ChannelVectorTile.halves`); other kernels run the halves in turn, the
 * first storing its sums into y as they are, the second's store adding them
 * before the bias (`ConvSpec.partialIn`).
 * Split in halves, the first part stores its sums into y, the second into
 * its workspace, and the part that finishes last adds them (the same adds
 * in the same order: the same bits) with the epilogue ({@link emitCombine}),
 * counting arrivals in the first part's argument block (abi.ts
 * `emitArrival`, `JOIN_SLOT`).
 *
 * Measured on an Intel Xeon (SPR-class, 2 vCPUs), MobileNetV2's blocks at 2
 * threads, each step reading what the step before wrote (`deno run -A
 * bench/block_chain.ts --rounds 30`, 30edb45 and afca706 in turn, two runs
 * each): 64→384→64 on 14², the projection 75.6-98.5 → 46.8-52.8 µs and the
 * depthwise layer before it 24.1-27.1 → 12.5-14.8 (its writes no longer take
 * back lines the other core read); 96→576→96, 99.3-101.2 → 75.6-75.7 and
 * 20.7-23.4 → 15.6-15.7; 160→960→160 on 7², 69.5-73.1 → 56.0-75.1 and
 * 14.5-18.4 → 10.9-15.4. Whole models, `deno run -A bench/ab.ts --a 30edb45
 * --b afca706 --model M --threads T`: MobileNetV2 ×0.935 at 2 threads,
 * ×1.016 at 1 (an A/A pair there reads ×0.995-1.019); ResNet-50 ×0.975 and
 * ×0.996.
 *
 * @module
 */
import { qword, r10, r11, r9, rbp, rcx, rdx, type Reg } from "../../../asm/mod.ts";
import { countedLoop, loadPointer, WORKSPACE_SLOT } from "../abi.ts";
import type { Tail, Vec } from "../vec.ts";
import { emitVectorStore } from "./channel_vectors.ts";
import { readsInPlace } from "./geometry.ts";
import { CONV_ARG, type ConvSpec, outHeight, outWidth } from "./spec.ts";

/** Output positions up to which a narrowing 1×1 layer sums in halves (14²: 196; 16² included). */
const HALVES_MOST_POSITIONS = 256;

/**
 * Whether `s` sums its input channels in two halves (a shape's numerics:
 * see the module doc): one image (NCHW or NHWC: the layout does not change
 * a call's bits), 1×1, stride 1, no padding, one group;
 * at least 128 input channels, a multiple of 32, and at least twice the
 * output channels; at most {@link HALVES_MOST_POSITIONS} output positions
 * or more weights than x (where a split goes over output channels and every
 * part would read all of x).
 */
export function kHalvesServe(s: ConvSpec): boolean {
  const positions = outHeight(s) * outWidth(s);
  return s.n === 1 && !s.flip && s.group === 1 && s.kh === 1 && s.kw === 1 &&
    readsInPlace(s) && s.c >= 128 && s.c % 32 === 0 && s.c >= 2 * s.oc &&
    (positions <= HALVES_MOST_POSITIONS || s.oc > positions);
}

/**
 * The kernels of a call in halves, in the order they run: each a spec of
 * half the input channels over w's full rows (`wInputs`). `whole`: the
 * first half's raw sums into y, then the second half's with the epilogue
 * (`partialIn`). Part 0 of a split in halves: the first half's raw sums;
 * part 1: the second half's raw sums (into its workspace, see generate.ts).
 */
export function halfSpecs(s: ConvSpec, which: "whole" | 0 | 1): ConvSpec[] {
  const half: ConvSpec = {
    ...s,
    c: s.c / 2,
    cTotal: s.cTotal,
    wInputs: s.c,
    kHalves: false,
    kPart: undefined,
  };
  const raw: ConvSpec = { ...half, bias: false, residual: false, activation: null };
  if (which === 0 || which === 1) return [raw];
  return [raw, { ...half, partialIn: true }];
}

/**
 * y = act(((second half) + (first half)) + bias + residual) over the whole
 * output (one image, NCHW, every row), the second half's sums `scratchAt`
 * into `partOne`'s workspace (part 1's argument block), the first's in y; the
 * operands from the argument block at rdi. Each vector through the whole
 * kernel's store (channel_vectors.ts emitVectorStore with `partialIn`: the
 * same adds in the same order). AVX2 or AVX-512. Uses rcx, rdx, r9-r11 and
 * rbp (saved).
 */
export function emitCombine(v: Vec, s: ConvSpec, partOne: Reg, scratchAt: number): void {
  const a = v.a, L = v.isa.lanes;
  if (v.isa.level !== "avx2" && v.isa.level !== "avx512") {
    throw new Error(`conv2d: halves combined at AVX2 or AVX-512, not ${v.isa.level}`);
  }
  const plane = outHeight(s) * outWidth(s), full = Math.floor(plane / L), rest = plane % L;
  const MASK = v.isa.nregs - 1;
  // emitVectorStore's operands: y at r11, the residual at r10, the bias at rbp.
  a.emit("push", rbp);
  a.emit("cvttsd2si", r9, qword(partOne, WORKSPACE_SLOT * 8));
  if (scratchAt) a.emit("add", r9, scratchAt);
  loadPointer(a, r11, CONV_ARG.Y);
  if (s.bias) loadPointer(a, rbp, CONV_ARG.BIAS);
  if (s.residual) loadPointer(a, r10, CONV_ARG.RESIDUAL);
  const X = 0, RES = 1, OUT = 2;
  const regs = { res: RES, out: OUT, free: Array.from({ length: MASK - 3 }, (_, i) => 3 + i) };
  const tail: Tail | undefined = rest ? v.tail(rest, 1, MASK) : undefined;
  const store = { ...s, partialIn: true };
  const one = (t?: Tail) => {
    v.load(X, r9, 0, t);
    emitVectorStore(v, store, X, 0, 0, t, regs);
  };
  const advance = (bytes: number) => {
    for (const p of [r9, r11, ...(s.residual ? [r10] : [])]) a.emit("add", p, bytes);
  };
  countedLoop(a, rcx, s.oc, () => {
    countedLoop(a, rdx, full, () => {
      one();
      advance(L * 4);
    });
    if (rest) {
      one(tail);
      advance(rest * 4);
    }
    if (s.bias) a.emit("add", rbp, 4);
  });
  a.emit("pop", rbp);
}
