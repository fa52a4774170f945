/**
 * The session profiler (enableProfiling): every node's calls and time, a
 * report of the hot nodes, and a Chrome trace-event file (as ONNX Runtime
 * writes) that Perfetto and chrome://tracing open.
 *
 * A node's time is the wall time of its step, run one at a time from
 * JavaScript; `run` and `runSync` replay recorded lists instead, with no
 * JavaScript between the kernels. After a node that moved megabytes the
 * call path runs cold: MobileNetV2's global average pool took 34.7 µs a
 * node here against its kernel's 7.5 (the Jit's RDTSC mean in the same
 * session), and `deno run -A bench/cold_call.ts` measures 21-36 µs of
 * path over the kernel after a 32 MiB copy (Zen 3). Small nodes after big
 * ones show that much more than they take in a run; `session.report()`
 * lists the kernels' own times beside the nodes'.
 */
import { describeNode } from "./ir.ts";
import type { PlanStep } from "./plan.ts";

interface NodeTime {
  name: string;
  op: string;
  calls: number;
  totalUs: number;
}

/** Most trace events kept (a long profile keeps its first ones). */
const MAX_EVENTS = 1_000_000;

export class Profiler {
  readonly #prefix: string;
  readonly #nodes = new Map<string, NodeTime>();
  readonly #events: { name: string; op: string; ts: number; dur: number }[] = [];
  readonly #origin = performance.now();

  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  /** Runs the steps on this thread, timing each. */
  runSteps(steps: readonly PlanStep[]): void {
    for (const s of steps) {
      const t0 = performance.now();
      s.run();
      const t1 = performance.now();
      const key = describeNode(s.node);
      const e = this.#nodes.get(key);
      if (!e) {
        // A node's first call compiles its kernels: kept in the trace, not in the means.
        this.#nodes.set(key, { name: s.node.name, op: s.node.op, calls: 0, totalUs: 0 });
      } else {
        e.calls++;
        e.totalUs += (t1 - t0) * 1000;
      }
      if (this.#events.length < MAX_EVENTS) {
        this.#events.push({
          name: s.node.name,
          op: s.node.op,
          ts: (t0 - this.#origin) * 1000,
          dur: (t1 - t0) * 1000,
        });
      }
    }
  }

  /** The hottest nodes as a table (each node's first, compiling call left out). */
  report(limit: number): string {
    const rows = [...this.#nodes.values()].sort((a, b) => b.totalUs - a.totalUs);
    const total = rows.reduce((s, r) => s + r.totalUs, 0) || 1;
    const lines = [
      "node                                     op                   calls    total µs   mean µs  share",
    ];
    for (const r of rows.slice(0, limit)) {
      if (r.calls === 0) continue;
      lines.push(
        `${r.name.slice(0, 40).padEnd(40)} ${r.op.padEnd(20)} ${String(r.calls).padStart(5)} ${
          r.totalUs.toFixed(0).padStart(11)
        } ${(r.totalUs / r.calls).toFixed(1).padStart(9)} ${
          (100 * r.totalUs / total).toFixed(1).padStart(5)
        }%`,
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
      args: { op_name: e.op },
    }));
    Deno.writeTextFileSync(file, JSON.stringify(events));
    return file;
  }
}
