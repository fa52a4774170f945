/**
 * The session profiler (enableProfiling): every node's calls and time, a
 * report of the hot nodes, and a Chrome trace-event file (as ONNX Runtime
 * writes) that Perfetto and chrome://tracing open.
 *
 * Each node has two times: its step's wall time, run one at a time from
 * JavaScript, and the time of its kernel calls alone (the timed
 * trampoline's RDTSC cycles, `timedCycles`, read either side of the step).
 * `run` and `runSync` replay recorded lists instead, with no JavaScript
 * between the kernels, so the kernel time is what a node costs a run.
 * After a node that moved megabytes the call path runs cold: MobileNetV2's
 * global average pool took 34.7 µs of wall time a node against its
 * kernel's 7.5, and `deno run -A bench/cold_call.ts` measures 21-36 µs of
 * path over the kernel after a 32 MiB copy (Zen 3). The trace's events
 * span the wall time; a step of Jit calls carries its kernel time as
 * `args.kernel_us` (a JavaScript step none: its wall time is its cost).
 */
import { timedCycles } from "../native/dispatch.ts";
import { tscRate } from "../native/stubs.ts";
import { describeNode } from "./ir.ts";
import type { PlanStep } from "./plan.ts";

interface NodeTime {
  name: string;
  op: string;
  calls: number;
  /** What its steps cost a run: their kernel calls' time, or a JavaScript step's wall time. */
  totalUs: number;
  /** Wall time of its steps, run one at a time. */
  wallUs: number;
}

/** Most trace events kept (a long profile keeps its first ones). */
const MAX_EVENTS = 1_000_000;

export class Profiler {
  readonly #prefix: string;
  readonly #nodes = new Map<string, NodeTime>();
  readonly #events: {
    name: string;
    op: string;
    ts: number;
    dur: number;
    kernel: number;
    shapes: PlanStep["shapes"];
  }[] = [];
  readonly #origin = performance.now();
  /** TSC cycles per µs, measured at the first step. */
  #cyclesPerUs = 0;

  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  /** Runs the steps on this thread, timing each. */
  runSteps(steps: readonly PlanStep[]): void {
    if (this.#cyclesPerUs === 0) this.#cyclesPerUs = tscRate() * 1000;
    for (const s of steps) {
      const t0 = performance.now(), k0 = timedCycles();
      s.run();
      const k1 = timedCycles(), t1 = performance.now();
      const kernel = (k1 - k0) / this.#cyclesPerUs;
      const key = describeNode(s.node);
      const e = this.#nodes.get(key);
      if (!e) {
        // A node's first call compiles its kernels: kept in the trace, not in the means.
        this.#nodes.set(key, {
          name: s.node.name,
          op: s.node.op,
          calls: 0,
          totalUs: 0,
          wallUs: 0,
        });
      } else {
        e.calls++;
        e.totalUs += s.native ? kernel : (t1 - t0) * 1000;
        e.wallUs += (t1 - t0) * 1000;
      }
      if (this.#events.length < MAX_EVENTS) {
        this.#events.push({
          name: s.node.name,
          op: s.node.op,
          ts: (t0 - this.#origin) * 1000,
          dur: (t1 - t0) * 1000,
          kernel: s.native ? kernel : -1,
          shapes: s.shapes,
        });
      }
    }
  }

  /**
   * The hottest nodes as a table (each node's first, compiling call left
   * out): total and mean µs of what a node costs a run (its kernels; a
   * JavaScript step's wall time), its mean wall time as profiled, its share.
   */
  report(limit: number): string {
    const rows = [...this.#nodes.values()].sort((a, b) => b.totalUs - a.totalUs);
    const total = rows.reduce((s, r) => s + r.totalUs, 0) || 1;
    const lines = [
      "node                                     op                   calls    total µs   mean µs   wall µs  share",
    ];
    for (const r of rows.slice(0, limit)) {
      if (r.calls === 0) continue;
      lines.push(
        `${r.name.slice(0, 40).padEnd(40)} ${r.op.padEnd(20)} ${String(r.calls).padStart(5)} ${
          r.totalUs.toFixed(0).padStart(11)
        } ${(r.totalUs / r.calls).toFixed(1).padStart(9)} ${
          (r.wallUs / r.calls).toFixed(1).padStart(9)
        } ${(100 * r.totalUs / total).toFixed(1).padStart(5)}%`,
      );
    }
    return lines.join("\n");
  }

  /** Writes the trace file; returns its name. */
  write(): string {
    const file = `${this.#prefix}_${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
    const events = this.#events.map((e) => ({
      cat: "Node",
      pid: 1,
      tid: 1,
      ph: "X",
      name: e.name,
      ts: Math.round(e.ts * 1000) / 1000,
      dur: Math.round(e.dur * 1000) / 1000,
      // A Jit-calls step's kernel time; none for a JavaScript one (its wall time is its cost).
      // Its values' types and dims as ONNX Runtime's events carry them.
      args: {
        op_name: e.op,
        ...(e.kernel < 0 ? {} : { kernel_us: Math.round(e.kernel * 1000) / 1000 }),
        ...(e.shapes
          ? { input_type_shape: e.shapes.inputs, output_type_shape: e.shapes.outputs }
          : {}),
      },
    }));
    Deno.writeTextFileSync(file, JSON.stringify(events));
    return file;
  }
}
