/**
 * Exhaustive accuracy check of the unary ops over every f32 bit pattern
 * (2^32 inputs per op and ISA level), against the f64 reference rounded to
 * f32. Prints the worst ulp error and where (composites: among inputs whose
 * error is also above 1e-7 absolute), and fails if a bound is broken.
 *
 *   deno task ulp [--ops exp,log] [--isa avx512] [--step 1]
 *
 * `--step k` checks every k-th pattern (a quicker sweep). Each line names
 * the plan swept; a kernel that is not at the level asked (a generator
 * that threw falls back to a lower one, and that sweep would check the
 * fallback) fails the run.
 */
import { parseArgs } from "node:util";
import { isaLevel, Jit, type UnaryOp } from "../mod.ts";
import { UNARY_OPS } from "../src/kernels/unary/mod.ts";
import { levelsUpTo } from "../src/cpu.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    ops: { type: "string", default: "exp,log,tanh,sigmoid,erf" },
    isa: { type: "string" },
    step: { type: "string", default: "1" },
  },
});
const ops = values.ops!.split(",") as UnaryOp[];
const levels = values.isa ? [values.isa] : levelsUpTo(isaLevel()).filter((l) => l !== "amx");
const step = Number(values.step);
/** exp, log, tanh, sigmoid, erf: 4 ulp; the composites 8 ulp or 1e-7 absolute. */
const BOUND: Record<string, number> = { exp: 4, log: 4, tanh: 4, sigmoid: 4, erf: 4 };
const ABSOLUTE = 1e-7;
const CHUNK = 1 << 22;

const F = new Float32Array(2), I = new Int32Array(F.buffer);
const ordinal = (b: number) => (b < 0 ? -(b & 0x7fffffff) : b);
function ulps(a: number, b: number): number {
  if (a !== a || b !== b) return a !== a && b !== b ? 0 : Infinity;
  F[0] = a;
  F[1] = b;
  return Math.abs(ordinal(I[0]) - ordinal(I[1]));
}

let failed = false;
for (const isa of levels) {
  using jit = new Jit({ maxIsa: isa as never });
  for (const op of ops) {
    const def = UNARY_OPS.find((o) => o.name === op)!;
    const f = def.reference, p = def.defaults.map(Math.fround);
    const x = new Float32Array(CHUNK), y = new Float32Array(CHUNK);
    const xb = new Uint32Array(x.buffer);
    let worst = 0, worstX = 0, over = 0;
    const t0 = performance.now();
    for (let base = 0; base < 2 ** 32; base += CHUNK * step) {
      for (let i = 0; i < CHUNK; i++) xb[i] = (base + i * step) >>> 0;
      jit.unary(op, x, y);
      const composite = !(op in BOUND);
      for (let i = 0; i < CHUNK; i++) {
        const ref = Math.fround(f(x[i], p));
        const d = ulps(y[i], ref);
        if (composite && d > 8 && Math.abs(y[i] - ref) <= ABSOLUTE) continue;
        if (d > worst) [worst, worstX] = [d, x[i]];
        if (d > (BOUND[op] ?? 8)) over++;
      }
    }
    const s = ((performance.now() - t0) / 1000).toFixed(0);
    // The kernel swept: its plan, at the level asked, without a generator failure, and every
    // call through it (none through the TypeScript reference).
    const swept = jit.stats().keys.filter((k) =>
      k.family === "unary" && k.key.startsWith(`${op} `)
    );
    const wrong = swept.filter((k) =>
      k.failure !== null || k.referenceCalls > 0 ||
      !(k.plan ?? "").startsWith(isa === "scalar" ? "scalar" : isa)
    );
    console.log(
      `${isa.padEnd(7)} ${op.padEnd(9)} worst ${worst} ulp at x = ${worstX}` +
        `${over ? `, ${over} inputs over the bound` : ""} (${s} s; ${
          swept.map((k) => k.plan).join("; ")
        })`,
    );
    for (const k of wrong) {
      console.log(
        `  not the kernel asked for: ${k.key}: ${k.plan}, ${k.referenceCalls} calls by the reference${
          k.failure ? ` (${k.failure})` : ""
        }`,
      );
    }
    if (over || wrong.length > 0 || swept.length === 0) failed = true;
  }
}
if (failed) Deno.exit(1);
