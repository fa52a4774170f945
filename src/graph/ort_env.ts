/**
 * onnxruntime-common's `env`, so that code which sets `ort.env.logLevel`
 * (or a web backend's flags) runs unchanged: `logLevel` is the default of
 * every session's `logSeverityLevel`; the other fields are accepted and
 * change nothing (one backend, the CPU, whose threads are the session's).
 *
 * @module
 */

/** ONNX Runtime's log levels, most verbose first. */
export type LogLevel = "verbose" | "info" | "warning" | "error" | "fatal";

/** The process-wide settings object ONNX Runtime's JS API exports as `env`. */
export interface OrtEnv {
  /** Default log level of sessions that set no `logSeverityLevel`. Default "warning". */
  logLevel?: LogLevel;
  /** Accepted for compatibility. */
  debug?: boolean;
  /** Accepted for compatibility. */
  trace?: boolean;
  /** `common`: the onnxruntime-common API this package follows. */
  readonly versions: { readonly common: string };
  /** The WebAssembly backend's flags: accepted, unused. */
  readonly wasm: Record<string, unknown>;
  /** The WebGL backend's flags: accepted, unused. */
  readonly webgl: Record<string, unknown>;
  /** The WebGPU backend's flags: accepted, unused. */
  readonly webgpu: Record<string, unknown>;
  /** Other keys, as ONNX Runtime's `env` allows. */
  [name: string]: unknown;
}

/**
 * ONNX Runtime's `env`.
 *
 * @example
 * ```ts
 * import { env } from "@njit/core";
 * env.logLevel = "verbose"; // sessions created from now on log what optimization did
 * ```
 */
export const env: OrtEnv = {
  logLevel: "warning",
  debug: false,
  trace: false,
  versions: Object.freeze({ common: "1.30.0" }),
  wasm: {},
  webgl: {},
  webgpu: {},
};

const SEVERITY: Record<LogLevel, number> = { verbose: 0, info: 1, warning: 2, error: 3, fatal: 4 };

/** The `logSeverityLevel` of a session that sets none: `env.logLevel`'s (2, warning, if unset or unknown). */
export function defaultLogSeverity(): number {
  const level = env.logLevel;
  return typeof level === "string" && Object.hasOwn(SEVERITY, level) ? SEVERITY[level] : 2;
}
