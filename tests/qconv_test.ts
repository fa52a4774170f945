/**
 * The 8-bit convolution (`jit.convInt8`): exact against int32 loops over
 * ONNX's weight layout on seeded shapes (edges of the 6-channel × 64-position
 * tile, of the 4-channel groups and of the 16-column transform; strides,
 * dilations, pads, uint8/int8 x and y, zero points, bias, one or per-channel
 * multipliers) on every ISA level the machine has (the VNNI tiles, AVX2's
 * word tiles, the scalar loop), the same bits on 1, 2 and 3 threads, inside its operands
 * with guard pages on both sides, and bad input named before any native code
 * runs.
 */
import assert from "node:assert/strict";
import { cpuFeatures, isaLevel, Jit } from "../mod.ts";
import { levelsUpTo } from "../src/cpu.ts";
import { GuardedPages } from "../src/native/memory.ts";
import { QCONV, type QConvSpec } from "../src/kernels/qconv/mod.ts";
import { int, pick, rng } from "./helpers/random.ts";

const LEVELS = levelsUpTo(isaLevel()).filter((l) => l !== "amx");
const f = Math.fround;

interface Case {
  n: number;
  c: number;
  h: number;
  w: number;
  oc: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  pads: [number, number, number, number];
}

function outDims(k: Case): [number, number] {
  return [
    Math.floor((k.h + k.pads[0] + k.pads[2] - k.dh * (k.kh - 1) - 1) / k.sh) + 1,
    Math.floor((k.w + k.pads[1] + k.pads[3] - k.dw * (k.kw - 1) - 1) / k.sw) + 1,
  ];
}

/** Σ (x − za)·w + bias by int32 loops (padding adds nothing), over ONNX's w. */
function sums(
  k: Case,
  x: Uint8Array | Int8Array,
  w: Int8Array,
  za: number,
  bias: Int32Array | null,
): Int32Array {
  const [oh, ow] = outDims(k), y = new Int32Array(k.n * k.oc * oh * ow);
  for (let b = 0, at = 0; b < k.n; b++) {
    for (let o = 0; o < k.oc; o++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++, at++) {
          let s = bias ? bias[o] : 0;
          for (let ci = 0; ci < k.c; ci++) {
            for (let ky = 0; ky < k.kh; ky++) {
              const iy = oy * k.sh - k.pads[0] + ky * k.dh;
              if (iy < 0 || iy >= k.h) continue;
              for (let kx = 0; kx < k.kw; kx++) {
                const ix = ox * k.sw - k.pads[1] + kx * k.dw;
                if (ix < 0 || ix >= k.w) continue;
                const xv = x[((b * k.c + ci) * k.h + iy) * k.w + ix] - za;
                s = (s + xv * w[((o * k.c + ci) * k.kh + ky) * k.kw + kx]) | 0;
              }
            }
          }
          y[at] = s;
        }
      }
    }
  }
  return y;
}

/** ONNX Runtime's requantizing of one sum (float32 steps, half to even). */
function requantize(v: number, m: number, zp: number, signed: boolean): number {
  const lo = (signed ? -128 : 0) - zp, hi = (signed ? 127 : 255) - zp;
  let t = f(f(v) * m);
  t = t < lo ? lo : t > hi ? hi : t;
  const r = Math.round(t);
  return (r - t === 0.5 && (r & 1) !== 0 ? r - 1 : r) + zp;
}

function randomCase(r: () => number): Case {
  const kh = pick(r, [1, 1, 3, 3, 5, 7]), kw = r() < 0.8 ? kh : pick(r, [1, 2, 3]);
  const sh = pick(r, [1, 1, 2, 3]), sw = r() < 0.8 ? sh : pick(r, [1, 2]);
  const dh = r() < 0.85 ? 1 : 2, dw = r() < 0.85 ? 1 : 2;
  const p = () => int(r, 0, Math.max(kh, kw));
  const k: Case = {
    n: pick(r, [1, 1, 2]),
    c: pick(r, [1, 3, 4, 5, 8, 13, 16, 33]),
    h: int(r, 1, 20),
    w: pick(r, [1, 3, 4, 5, 7, 8, 9, 14, 15, 16, 17, 28, 31, 47, 56, 64, 65, 70, 130]),
    oc: pick(r, [1, 5, 6, 7, 12, 13, 16, 32]),
    kh,
    kw,
    sh,
    sw,
    dh,
    dw,
    pads: [p(), p(), p(), p()],
  };
  const [oh, ow] = outDims(k);
  return oh >= 1 && ow >= 1 ? k : randomCase(r);
}

function options(k: Case) {
  return {
    n: k.n,
    c: k.c,
    h: k.h,
    w: k.w,
    outChannels: k.oc,
    kernel: [k.kh, k.kw],
    strides: [k.sh, k.sw],
    dilations: [k.dh, k.dw],
    pads: k.pads,
  };
}

/** The first difference of two arrays named (assert.deepEqual's diff of big arrays takes minutes). */
function sameElements(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.equal(got.length, want.length, `${what}: lengths`);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) assert.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

for (const isa of LEVELS) {
  Deno.test(`convInt8 ${isa}: exact on seeded shapes (int32 and requantized bytes)`, () => {
    const seed = 6100 + LEVELS.indexOf(isa), r = rng(seed);
    using jit = new Jit({ maxIsa: isa });
    const vnni = isa === "avx512" && cpuFeatures().avx512vnni;
    const words = !vnni && (isa === "avx2" || isa === "avx512");
    for (let t = 0; t < 100; t++) {
      const k = randomCase(r), [oh, ow] = outDims(k);
      const xSigned = r() < 0.3;
      const nx = k.n * k.c * k.h * k.w, ny = k.n * k.oc * oh * ow;
      const x = xSigned
        ? Int8Array.from({ length: nx }, () => int(r, -128, 127))
        : Uint8Array.from({ length: nx }, () => int(r, 0, 255));
      // Weights within ±64 (7-bit: AVX2's byte tiles) a third of the time.
      const narrow = r() < 0.33;
      const w = Int8Array.from(
        { length: k.oc * k.c * k.kh * k.kw },
        () => narrow ? int(r, -64, 64) : int(r, -128, 127),
      );
      const za = r() < 0.3 ? 0 : xSigned ? int(r, -128, 127) : int(r, 0, 255);
      const bias = r() < 0.5 ? Int32Array.from({ length: k.oc }, () => int(r, -1e5, 1e5)) : null;
      const packed = jit.packConvInt8(w, { outChannels: k.oc, c: k.c, kernel: [k.kh, k.kw] });
      const want = sums(k, x, w, za, bias);
      const mode = pick(r, [0, 1, 2] as const);
      const what = () =>
        `${isa} seed ${seed} case ${t} ${JSON.stringify(k)} x ${
          xSigned ? "int8" : "uint8"
        } za ${za} bias ${!!bias} mode ${mode}`;
      const extra = { xZeroPoint: za, ...(bias ? { bias } : {}) };
      if (mode === 0) {
        const y = new Int32Array(ny).fill(7);
        jit.convInt8(x, packed, y, { ...options(k), ...extra });
        for (let i = 0; i < ny; i++) {
          if (y[i] !== want[i]) assert.fail(`${what()}: y[${i}] ${y[i]} vs ${want[i]}`);
        }
      } else {
        const signed = mode === 2;
        const scale = Float32Array.from(
          { length: r() < 0.5 ? 1 : k.oc },
          () => f(0.3 / (1 + Math.sqrt(k.c * k.kh * k.kw) * 128 * r())),
        );
        const zp = signed ? int(r, -128, 127) : int(r, 0, 255);
        const y = signed ? new Int8Array(ny).fill(7) : new Uint8Array(ny).fill(7);
        jit.convInt8(x, packed, y, { ...options(k), ...extra, scale, yZeroPoint: zp });
        const plane = oh * ow;
        for (let i = 0; i < ny; i++) {
          const m = scale[scale.length === 1 ? 0 : Math.floor(i / plane) % k.oc];
          const v = requantize(want[i], m, zp, signed);
          if (y[i] !== v) assert.fail(`${what()}: y[${i}] ${y[i]} vs ${v} (sum ${want[i]})`);
        }
      }
      // Each output channel's Σw comes with the packing.
      for (let o = 0; o < k.oc; o++) {
        let s = 0;
        for (let i = 0; i < k.c * k.kh * k.kw; i++) s += w[o * k.c * k.kh * k.kw + i];
        assert.equal(packed.sums[o], s);
      }
    }
    for (const q of jit.stats().keys) {
      const path = vnni
        ? "vnni"
        : words && q.key.includes("w within ±64")
        ? "vpmaddubsw"
        : words
        ? "vpmaddwd"
        : "scalar loop";
      assert.ok(q.plan?.includes(path), `${isa}: ${q.key}: ${q.plan} ${q.failure}`);
    }
  });
}

Deno.test("convInt8: the same bits on 1, 2 and 3 threads; the family's reference agrees", () => {
  const r = rng(6200);
  using one = new Jit({ threads: 1 });
  using two = new Jit({ threads: 2, minPartUs: 0 });
  using three = new Jit({ threads: 3, minPartUs: 0 });
  const shapes: Case[] = [
    // A small plane: the threads split output channels (the weights' sums found from a part's).
    {
      n: 2,
      c: 16,
      h: 7,
      w: 7,
      oc: 40,
      kh: 3,
      kw: 3,
      sh: 1,
      sw: 1,
      dh: 1,
      dw: 1,
      pads: [1, 1, 1, 1],
    },
    {
      n: 1,
      c: 16,
      h: 28,
      w: 28,
      oc: 32,
      kh: 3,
      kw: 3,
      sh: 1,
      sw: 1,
      dh: 1,
      dw: 1,
      pads: [1, 1, 1, 1],
    },
    {
      n: 2,
      c: 3,
      h: 33,
      w: 40,
      oc: 13,
      kh: 3,
      kw: 3,
      sh: 2,
      sw: 2,
      dh: 1,
      dw: 1,
      pads: [1, 1, 0, 0],
    },
    // Rows of 56 and 57 (stride 2) positions: vectors that end one row and start the next,
    // groups of 8 rows and the band's rest, in bands of 40/2 and 40/3 rows.
    {
      n: 1,
      c: 8,
      h: 40,
      w: 56,
      oc: 13,
      kh: 3,
      kw: 3,
      sh: 1,
      sw: 1,
      dh: 1,
      dw: 1,
      pads: [1, 1, 1, 1],
    },
    {
      n: 1,
      c: 5,
      h: 45,
      w: 113,
      oc: 7,
      kh: 3,
      kw: 3,
      sh: 2,
      sw: 2,
      dh: 1,
      dw: 1,
      pads: [1, 1, 1, 1],
    },
    {
      n: 1,
      c: 8,
      h: 9,
      w: 70,
      oc: 7,
      kh: 5,
      kw: 2,
      sh: 1,
      sw: 1,
      dh: 2,
      dw: 1,
      pads: [2, 0, 2, 1],
    },
  ];
  // Full-range weights, and within ±64 (AVX2's byte tiles).
  for (const [k, most] of shapes.flatMap((k) => [[k, 128], [k, 64]] as const)) {
    const [oh, ow] = outDims(k), ny = k.n * k.oc * oh * ow;
    const x = Uint8Array.from({ length: k.n * k.c * k.h * k.w }, () => int(r, 0, 255));
    const w = Int8Array.from(
      { length: k.oc * k.c * k.kh * k.kw },
      () => int(r, -most, Math.min(127, most)),
    );
    const bias = Int32Array.from({ length: k.oc }, () => int(r, -1000, 1000));
    const scale = Float32Array.from({ length: k.oc }, () => 0.3 / (200 * k.c * (1 + r())));
    const outs = [one, two, three].flatMap((j) => {
      const packed = j.packConvInt8(w, { outChannels: k.oc, c: k.c, kernel: [k.kh, k.kw] });
      const y32 = new Int32Array(ny), y8 = new Uint8Array(ny);
      j.convInt8(x, packed, y32, { ...options(k), xZeroPoint: 100, bias });
      j.convInt8(x, packed, y8, { ...options(k), xZeroPoint: 100, bias, scale, yZeroPoint: 128 });
      return [y32, y8];
    });
    sameElements(outs[0], sums(k, x, w, 100, bias), `${JSON.stringify(k)} int32`);
    // The family's TypeScript computation (where no machine code runs): the same bytes.
    const spec: QConvSpec = {
      n: k.n,
      c: k.c,
      h: k.h,
      w: k.w,
      oc: k.oc,
      kh: k.kh,
      kw: k.kw,
      sh: k.sh,
      sw: k.sw,
      dh: k.dh,
      dw: k.dw,
      pt: k.pads[0],
      pl: k.pads[1],
      pb: k.pads[2],
      pr: k.pads[3],
      xZero: 100,
      xSigned: false,
      out: 1,
      yZero: 128,
      scale: 2,
      bias: true,
      rowStart: 0,
      rowEnd: oh,
      ocStart: 0,
      ocTotal: k.oc,
      narrowW: most === 64,
    };
    const words = (b: ArrayBufferView, bytes = b.byteLength) => {
      const v = new Float32Array(Math.ceil(bytes / 4));
      new Uint8Array(v.buffer).set(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
      return v;
    };
    const packed = one.packConvInt8(w, { outChannels: k.oc, c: k.c, kernel: [k.kh, k.kw] });
    const yRef = new Float32Array(Math.ceil(ny / 4));
    QCONV.reference(spec, [words(x), packed.view, words(bias), scale, yRef]);
    sameElements(new Uint8Array(yRef.buffer, 0, ny), outs[1], "the reference");
    for (const z of [0, 1]) {
      sameElements(outs[2 + z], outs[z], `${JSON.stringify(k)} on 2 threads, output ${z}`);
      sameElements(outs[4 + z], outs[z], `${JSON.stringify(k)} on 3 threads, output ${z}`);
    }
  }
  assert.ok(three.stats().keys.some((q) => q.parts > 1), "no call was split");
});

Deno.test("convInt8: operands against guard pages on both sides (whole and in parts)", () => {
  using jit = new Jit();
  using split = new Jit({ threads: 3, minPartUs: 0 });
  const shapes: Case[] = [
    // Rows of 7 and of 3 side by side in one vector (masked loads and stores); the first
    // split into blocks of channels.
    {
      n: 1,
      c: 3,
      h: 7,
      w: 7,
      oc: 13,
      kh: 3,
      kw: 3,
      sh: 1,
      sw: 1,
      dh: 1,
      dw: 1,
      pads: [1, 1, 1, 1],
    },
    { n: 1, c: 2, h: 5, w: 3, oc: 7, kh: 1, kw: 1, sh: 1, sw: 1, dh: 1, dw: 1, pads: [0, 0, 0, 0] },
    {
      n: 1,
      c: 5,
      h: 7,
      w: 17,
      oc: 7,
      kh: 3,
      kw: 3,
      sh: 1,
      sw: 1,
      dh: 1,
      dw: 1,
      pads: [1, 1, 1, 1],
    },
    {
      n: 2,
      c: 4,
      h: 9,
      w: 33,
      oc: 6,
      kh: 3,
      kw: 3,
      sh: 2,
      sw: 2,
      dh: 1,
      dw: 1,
      pads: [0, 0, 0, 0],
    },
  ];
  for (const k of shapes) {
    const [oh, ow] = outDims(k), nx = k.n * k.c * k.h * k.w, ny = k.n * k.oc * oh * ow;
    for (const side of ["start", "end"] as const) {
      for (const out of ["int32", "uint8"] as const) {
        const yBytes = ny * (out === "int32" ? 4 : 1);
        // Byte arrays start at a multiple of 4: at the end, the last page's last bytes.
        const xAt = (bytes: number, total: number) =>
          side === "end" ? Math.floor((total - bytes) / 4) * 4 : 0;
        const px = new GuardedPages(nx + 4), py = new GuardedPages(yBytes + 4);
        try {
          const xb = Deno.UnsafePointerView.getArrayBuffer(px.pointer, px.bytes);
          const yb = Deno.UnsafePointerView.getArrayBuffer(py.pointer, py.bytes);
          const x = new Uint8Array(xb, xAt(nx, px.bytes), nx).fill(3);
          const w = new Int8Array(k.oc * k.c * k.kh * k.kw).fill(-2);
          for (const j of [jit, split]) {
            const packed = j.packConvInt8(w, { outChannels: k.oc, c: k.c, kernel: [k.kh, k.kw] });
            if (out === "int32") {
              const y = new Int32Array(yb, xAt(yBytes, py.bytes), ny);
              j.convInt8(x, packed, y, options(k));
              sameElements(y, sums(k, x, w, 0, null), `${JSON.stringify(k)} ${side}`);
            } else {
              const y = new Uint8Array(yb, xAt(yBytes, py.bytes), ny);
              j.convInt8(x, packed, y, { ...options(k), scale: Float32Array.of(-0.5) });
              const want = sums(k, x, w, 0, null);
              for (let i = 0; i < ny; i++) assert.equal(y[i], requantize(want[i], -0.5, 0, false));
            }
          }
        } finally {
          px.free();
          py.free();
        }
      }
    }
  }
});

Deno.test("convInt8: bad input throws naming the argument before any native code runs", () => {
  using jit = new Jit();
  const w = jit.packConvInt8(new Int8Array(4 * 2 * 9), { outChannels: 4, c: 2, kernel: [3, 3] });
  const x = new Uint8Array(2 * 5 * 5), y = new Int32Array(4 * 3 * 3), y8 = new Uint8Array(36);
  const o = { n: 1, c: 2, h: 5, w: 5, outChannels: 4, kernel: [3, 3] };
  const scale = Float32Array.of(1);
  const cases: [() => void, RegExp, ErrorConstructor][] = [
    [
      () => jit.convInt8(new Int16Array(50) as never, w, y, o),
      /x must be a Uint8Array or an Int8Array/,
      TypeError,
    ],
    [
      () => jit.convInt8(x, w, new Float32Array(36) as never, o),
      /y must be an Int32Array, a Uint8Array/,
      TypeError,
    ],
    [
      () => jit.convInt8(x, { ...w } as never, y, o),
      /w must be made by jit.packConvInt8/,
      TypeError,
    ],
    [
      () => jit.convInt8(x, w, y, { ...o, c: 3 }),
      /w was packed for 4 outputs × 2 channels/,
      RangeError,
    ],
    [() => jit.convInt8(x, w, y, { ...o, h: 6 }), /x has 50 elements but n×c×h×w/, RangeError],
    [() => jit.convInt8(x, w, new Int32Array(35), o), /y has 35 elements/, RangeError],
    [() => jit.convInt8(x, w, y, { ...o, scale }), /an Int32Array y takes no scale/, TypeError],
    [() => jit.convInt8(x, w, y8, o), /a byte y needs a scale/, TypeError],
    [
      () => jit.convInt8(x, w, y8, { ...o, scale: new Float32Array(3) }),
      /scale has 3 elements/,
      RangeError,
    ],
    [
      () => jit.convInt8(x, w, y8, { ...o, scale: [1] as never }),
      /scale must be a Float32Array/,
      TypeError,
    ],
    [
      () => jit.convInt8(x, w, y8, { ...o, scale, yZeroPoint: 256 }),
      /yZeroPoint must be an integer in \[0, 255\]/,
      RangeError,
    ],
    [
      () => jit.convInt8(x, w, new Int8Array(36), { ...o, scale, yZeroPoint: 128 }),
      /yZeroPoint must be an integer in \[-128, 127\]/,
      RangeError,
    ],
    [
      () => jit.convInt8(x, w, y, { ...o, xZeroPoint: -1 }),
      /xZeroPoint must be an integer in \[0, 255\]/,
      RangeError,
    ],
    [
      () => jit.convInt8(new Int8Array(50), w, y, { ...o, xZeroPoint: 200 }),
      /xZeroPoint must be an integer in \[-128, 127\]/,
      RangeError,
    ],
    [
      () => jit.convInt8(x, w, y, { ...o, bias: new Int32Array(3) }),
      /bias has 3 elements/,
      RangeError,
    ],
    [
      () => jit.convInt8(x, w, y, { ...o, bias: new Float32Array(4) as never }),
      /bias must be an Int32Array/,
      TypeError,
    ],
    [
      () => jit.convInt8(x.subarray(1), w, y, { ...o, h: 7, w: 7 }),
      /x must start at a multiple of 4 bytes/,
      RangeError,
    ],
    [
      () => jit.convInt8(x, w, y, { ...o, kernel: [3, 3], pads: [9, 0, 0, 0, 0] }),
      /pads must have 4 elements/,
      RangeError,
    ],
    [
      () => jit.convInt8(x, w, y, { ...o, strides: [0, 1] }),
      /strides\[0\] must be an integer/,
      RangeError,
    ],
    [() => jit.convInt8(x, w, y, null as never), /options/, TypeError],
    [
      () => jit.packConvInt8(new Uint8Array(72) as never, { outChannels: 4, c: 2, kernel: [3, 3] }),
      /w must be an Int8Array/,
      TypeError,
    ],
    [
      () => jit.packConvInt8(new Int8Array(71), { outChannels: 4, c: 2, kernel: [3, 3] }),
      /w has 71 elements/,
      RangeError,
    ],
    [
      () => jit.packConvInt8(new Int8Array(72), { outChannels: 4, c: 2, kernel: [3] }),
      /kernel must be \[kh, kw\]/,
      TypeError,
    ],
    [
      () => jit.packConvInt8(new Int8Array(72), { outChannels: 0, c: 2, kernel: [3, 3] }),
      /outChannels must be an integer/,
      RangeError,
    ],
  ];
  for (const [call, message, kind] of cases) {
    assert.throws(
      call,
      (e: Error) => e instanceof kind && message.test(e.message),
      String(message),
    );
  }
  assert.equal(jit.stats().keys.length, 0, "no kernel was made");
  // A getter cannot hand validation one array and the kernel another: each option read once.
  const reads = { bias: 0, scale: 0 };
  jit.convInt8(x, w, y8, {
    ...o,
    get bias() {
      return reads.bias++ === 0 ? new Int32Array(4) : new Int32Array(0);
    },
    get scale() {
      return reads.scale++ === 0 ? Float32Array.of(1) : new Float32Array(0);
    },
  });
  assert.deepEqual(reads, { bias: 1, scale: 1 });
});
