/**
 * What a process's first timer costs: the first `setTimeout` against the
 * first `Atomics.waitAsync` with a timeout (what the runtime waits with
 * before giving pinned list threads their masks back: call_lists.ts), each
 * timed in a fresh Deno process, processes alternating; medians in ms.
 *
 *   deno run -A bench/first_timer.ts [--rounds 7]
 *
 * @module
 */
// No static import: a child must load nothing before its timer (node:util, say, brings part of
// Deno's Node timers with it).
const arg = (name: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
};
const child = arg("child");
if (child) {
  const t0 = performance.now();
  if (child === "setTimeout") clearTimeout(setTimeout(() => {}, 20));
  else Atomics.waitAsync(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  console.log(performance.now() - t0);
  Deno.exit(0);
}
const { median } = await import("./timing.ts");
const rounds = Number(arg("rounds") ?? 7);

const modes = ["setTimeout", "waitAsync"] as const;
const ms: Record<string, number[]> = { setTimeout: [], waitAsync: [] };
for (let r = 0; r < rounds; r++) {
  for (const mode of modes) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", new URL(import.meta.url).pathname, "--child", mode],
      stdout: "piped",
    }).output();
    ms[mode].push(Number(new TextDecoder().decode(out.stdout)));
  }
}
for (const mode of modes) {
  const v = ms[mode];
  console.log(
    `first ${mode.padEnd(10)} in a fresh process: median ${median(v).toFixed(2)} ms ` +
      `(${Math.min(...v).toFixed(2)}-${Math.max(...v).toFixed(2)}, ${v.length} processes)`,
  );
}
