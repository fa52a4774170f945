/**
 * An audio front end as models export it — STFT (Hann window) → power →
 * MatMul by MelWeightMatrix → Log — at Whisper's sizes (n_fft 400, hop 160,
 * 80 mels, 16 kHz; 30 s by default), ours and onnxruntime-node in one process
 * (medians). ONNX Runtime runs a 400-point transform as a direct sum with a
 * cosine and sine per term (of a float32 angle); ours is one GEMM against a
 * basis computed once in float64. Accuracy: the power spectrum of every
 * 100th frame against a float64 direct sum, max error / max power.
 *
 *   ONNXRUNTIME_NODE_INSTALL=skip deno run -A bench/logmel.ts [--threads N] [--seconds 30]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { InferenceSession, Tensor } from "../mod.ts";
import { GraphBuilder } from "../tools/onnx_writer.ts";
import { median } from "./timing.ts";

const { values } = parseArgs({
  options: {
    threads: { type: "string", default: "1" },
    seconds: { type: "string", default: "30" },
    fft: { type: "string", default: "400" },
  },
});
const threads = Number(values.threads), S = 16000 * Number(values.seconds);
const FFT = Number(values.fft), HOP = 160, MELS = 80;

const g = new GraphBuilder(17);
g.input("audio", "float32", [1, S, 1]);
const hann = g.op("HannWindow", [g.ints("n", [FFT], [])]);
const spec = g.op("STFT", ["audio", g.ints("hop", [HOP], []), hann]);
const power = g.op("ReduceSum", [g.op("Mul", [spec, spec]), g.ints("ax", [-1])], { keepdims: 0 });
const mel = g.op("MelWeightMatrix", [
  g.ints("mels", [MELS], []),
  g.ints("L", [FFT], []),
  g.ints("rate", [16000], []),
  g.initializer("lo", { type: "float32", dims: [], data: [0] }),
  g.initializer("hi", { type: "float32", dims: [], data: [8000] }),
]);
const eps = g.initializer("eps", { type: "float32", dims: [], data: [1e-10] });
g.output(g.op("Log", [g.op("Add", [g.op("MatMul", [power, mel]), eps])], {}, "logmel"));
g.output(g.op("Identity", [power], {}, "power"));
const bytes = g.toBytes();

const audio = new Float32Array(S).map((_, i) =>
  Math.sin(i * 0.05) * 0.5 + Math.sin(i * 0.31) * 0.2
);
const ort = await import(["npm:onnxruntime-node", "1.30.0"].join("@")).catch(() => null);
const ours = await InferenceSession.create(bytes, { intraOpNumThreads: threads });
const theirs = ort
  ? await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads })
  : null;
const x = new Tensor("float32", audio, [1, S, 1]);
const xo = ort ? new ort.Tensor("float32", audio, [1, S, 1]) : null;
const a: number[] = [], b: number[] = [];
const bins = (FFT >> 1) + 1, frames = Math.floor((S - FFT) / HOP) + 1;
/** max |power − f64 power| / max power over every 100th frame. */
const error = (power: Float32Array) => {
  let worst = 0, peak = 0;
  for (let f = 0; f < frames; f += 100) {
    for (let k = 0; k < bins; k++) {
      let re = 0, im = 0;
      for (let j = 0; j < FFT; j++) {
        const v = audio[f * HOP + j] * (0.5 - 0.5 * Math.cos((2 * Math.PI * j) / FFT));
        const t = (2 * Math.PI * ((k * j) % FFT)) / FFT;
        re += v * Math.cos(t), im -= v * Math.sin(t);
      }
      const want = re * re + im * im;
      peak = Math.max(peak, want);
      worst = Math.max(worst, Math.abs(power[f * bins + k] - want));
    }
  }
  return worst / peak;
};
let errOurs = 0, errOrt = 0;
for (let r = 0; r < 9; r++) {
  let t = performance.now();
  const mine = await ours.run({ audio: x });
  a.push(performance.now() - t);
  if (r === 0) errOurs = error(mine.power.data as Float32Array);
  if (theirs) {
    t = performance.now();
    const ref = await theirs.run({ audio: xo });
    b.push(performance.now() - t);
    if (r === 0) errOrt = error(ref.power.data as Float32Array);
  }
}
console.log(
  `log-mel ${values.seconds} s (${frames} frames × ${FFT}-point STFT, ${MELS} mels), ${threads} thread(s): ` +
    `ours ${median(a).toFixed(2)} ms` +
    (theirs
      ? `, ORT ${median(b).toFixed(2)} ms: ×${(median(b) / median(a)).toFixed(1)}` +
        `; power spectrum error ours ${errOurs.toExponential(1)}, ORT ${errOrt.toExponential(1)}`
      : " (onnxruntime-node not installed)"),
);
await ours.release();
await theirs?.release();
