/**
 * What a key's kernel does, as one string: two kernels with the same
 * identity run the same machine code over the same parts. Tier 2 measures
 * a candidate only when its identity is new: some plans that differ
 * (a placement whose registers do not fit, a prefetch with nothing left to
 * fetch, a part count the partition caps) compile to the code of another.
 *
 * @module
 */
import { checksum } from "./code_cache.ts";

/** How a kernel runs its programs: whole or in parts, and the workspace it sizes. */
export interface CodeLayout {
  /** Each part's program (an index into the codes) and operand byte offsets; null: whole. */
  parts: { program: number; offsets: readonly number[] }[] | null;
  /** The most workspace a part (or the whole call) takes: where the parts' workspaces lie. */
  workspaceBytes: number;
}

/** The identity of programs `codes` run as `layout` says. */
export function codeIdentity(codes: readonly Uint8Array[], layout: CodeLayout): string {
  const { parts } = layout;
  let out = parts === null ? "whole" : parts.map((p) => `${p.program}@${p.offsets}`).join(";");
  out += `|${layout.workspaceBytes}`;
  // The code cache's checksum from two seeds: a 64-bit fingerprint of each program.
  for (const c of codes) out += `|${c.length}:${checksum(c)}:${checksum(c, 0x9e3779b9)}`;
  return out;
}
