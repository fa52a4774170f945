/**
 * What the code cache's entries are valid for: a stamp of the generators'
 * source, and where the cache lives by default.
 *
 * A kernel's bytes are a function of its family, spec and plan and of the
 * generator code that turns them into instructions. A published version's
 * code never changes, so its modules' URL (which names the version) is the
 * stamp. A checkout's code does: there the stamp hashes the path, size and
 * modification time of every `.ts` file under `asm/` and `src/` (286 files
 * stat in about 2.6 ms, once per process, at its first compile), so an edit
 * to any of them starts a new cache directory.
 *
 * @module
 */
import { env } from "../env.ts";

/** The package root (this file is `src/runtime/code_stamp.ts`). */
const ROOT = new URL("../../", import.meta.url);

/**
 * The stamp of the code at `root` (16 hex digits), or null when it cannot
 * be read without asking for a permission.
 */
export function sourceStamp(root: URL = ROOT): string | null {
  if (root.protocol !== "file:") return hashText(root.href);
  const path = decodeURIComponent(root.pathname);
  if (!granted("read", path)) return null;
  const h = new TextHasher();
  try {
    for (const dir of ["asm", "src"]) statTree(`${path}${dir}`, dir, h);
  } catch {
    return null;
  }
  return h.hex();
}

/**
 * The cache directory when the Jit names none: NJIT_CODE_CACHE ("0" or
 * "off": none), else `$XDG_CACHE_HOME/njit/kernels`, else
 * `$HOME/.cache/njit/kernels`; null when none is set or readable.
 */
export function defaultCodeCacheDir(): string | null {
  const named = env("NJIT_CODE_CACHE");
  if (named === "0" || named === "off") return null;
  if (named !== undefined) return named;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg !== undefined) return `${xdg}/njit/kernels`;
  const home = env("HOME");
  return home === undefined ? null : `${home}/.cache/njit/kernels`;
}

/** Whether `name` access to `path` is granted (never prompts). */
export function granted(name: "read" | "write", path: string): boolean {
  try {
    return Deno.permissions.querySync({ name, path }).state === "granted";
  } catch {
    return false;
  }
}

/** Feeds each `.ts` file's relative path, size and mtime under `dir` to `h`, in name order. */
function statTree(dir: string, rel: string, h: TextHasher): void {
  const names = [...Deno.readDirSync(dir)].sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of names) {
    const full = `${dir}/${e.name}`;
    if (e.isDirectory) statTree(full, `${rel}/${e.name}`, h);
    else if (e.name.endsWith(".ts")) {
      const s = Deno.statSync(full);
      h.add(`${rel}/${e.name} ${s.size} ${s.mtime?.getTime() ?? 0}\n`);
    }
  }
}

/** 16 hex digits of two 32-bit FNV-1a hashes (different offsets) of `text`. */
export function hashText(text: string): string {
  const h = new TextHasher();
  h.add(text);
  return h.hex();
}

/** Two FNV-1a hashes over UTF-16 code units, fed piece by piece. */
class TextHasher {
  #a = 0x811c9dc5;
  #b = 0x01000193 ^ 0x5bd1e995;
  add(text: string): void {
    let a = this.#a, b = this.#b;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x01000193) + 0x9e3779b9 | 0;
    }
    this.#a = a;
    this.#b = b;
  }
  hex(): string {
    return (this.#a >>> 0).toString(16).padStart(8, "0") +
      (this.#b >>> 0).toString(16).padStart(8, "0");
  }
}
