/**
 * The one libc symbol table of the project, and the lazy loader around it.
 *
 * Everything native that neural-jit does goes through these symbols: executable
 * memory (mmap/mprotect/munmap/madvise), the memfd that carries the dispatch
 * trampoline, and errno. Kernels themselves are entered through the trampoline
 * (see `dispatch.ts`), never through `Deno.UnsafeFnPointer` on a hot path.
 *
 * @module
 */

/** Every libc function the project calls, with its FFI signature. */
export const LIBC_SYMBOLS = {
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  mprotect: { parameters: ["pointer", "usize", "i32"], result: "i32" },
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
  sysconf: { parameters: ["i32"], result: "i64" },
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  memcpy: { parameters: ["pointer", "buffer", "usize"], result: "pointer" },
  syscall: { parameters: ["i64", "i64", "i64"], result: "i64" },
  __errno_location: { parameters: [], result: "pointer" },
  /** Worker threads: our machine code as the start routine (see pool.ts). */
  pthread_create: { parameters: ["buffer", "pointer", "pointer", "pointer"], result: "i32" },
  pthread_join: { parameters: ["u64", "pointer"], result: "i32" },
  pthread_setname_np: { parameters: ["u64", "buffer"], result: "i32" },
  /** A worker's CPU time (stats, and the idle check of the benches). */
  pthread_getcpuclockid: { parameters: ["u64", "buffer"], result: "i32" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  /** The CPUs this process may run on: the default thread count. */
  sched_getaffinity: { parameters: ["i32", "usize", "buffer"], result: "i32" },
  /** A thread's CPUs (0: the calling thread): the tests pin it to check per-CPU reads. */
  sched_setaffinity: { parameters: ["i32", "usize", "buffer"], result: "i32" },
  /** The calling thread's CPU: where an async call list runs (see policy.ts, PIN_LISTS). */
  sched_getcpu: { parameters: [], result: "i32" },
  /** glibc's malloc policy: a session's outputs come from reused heap memory (malloc_policy.ts). */
  mallopt: { parameters: ["i32", "i32"], result: "i32" },
  /** The cheapest libc call there is: the reference of the dispatch bench. */
  abs: { parameters: ["i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The loaded libc symbols. */
export type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

/** Linux constants used with the symbols above (x86-64 values). */
export const PROT_NONE = 0;
/** Pages may be read. */
export const PROT_READ = 1;
/** Pages may be written. */
export const PROT_WRITE = 2;
/** Pages may be executed. */
export const PROT_EXEC = 4;
/** mmap flag: private copy-on-write mapping. */
export const MAP_PRIVATE = 0x02;
/** mmap flag: not backed by a file. */
export const MAP_ANONYMOUS = 0x20;
/** mmap flag: do not reserve swap for the mapping. */
export const MAP_NORESERVE = 0x4000;
/** madvise advice: drop the pages; the next touch sees zeros. */
export const MADV_DONTNEED = 4;
/**
 * madvise advice: fault the range in now, writable (Linux 5.14+; older
 * kernels refuse it and the pages fault in as they are touched).
 */
export const MADV_POPULATE_WRITE = 23;
/** sysconf name of the page size. */
export const SC_PAGESIZE = 30;
/** memfd_create flag: close the descriptor on exec. */
export const MFD_CLOEXEC = 1;
/** The `gettid` system call's number (also used by the pool's machine code). */
export const SYS_GETTID = 186;

/** Why the JIT cannot run here, or `undefined` if it can. */
export type UnavailableReason = "platform" | "permission" | "library";

/**
 * Thrown when native code cannot be used: not x86-64 Linux, no `--allow-ffi`,
 * or libc could not be opened. The TypeScript paths of the module keep working.
 */
export class JitUnavailableError extends Error {
  /** What is missing. */
  readonly reason: UnavailableReason;
  /** Builds the error; `cause` keeps the original exception. */
  constructor(reason: UnavailableReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "JitUnavailableError";
    this.reason = reason;
  }
}

/** True when the process runs on x86-64 Linux, the only place the JIT can run. */
export function isSupportedPlatform(): boolean {
  return Deno.build.os === "linux" && Deno.build.arch === "x86_64";
}

let library: Deno.DynamicLibrary<typeof LIBC_SYMBOLS> | undefined;
let failure: JitUnavailableError | undefined;

/**
 * Opens libc once and returns its symbols. Throws {@link JitUnavailableError}
 * with a message naming `--allow-ffi` when the permission is missing.
 */
export function libc(): Libc {
  if (library) return library.symbols;
  if (failure) throw failure;
  if (!isSupportedPlatform()) {
    failure = new JitUnavailableError(
      "platform",
      `neural-jit: the JIT needs x86-64 Linux, this is ${Deno.build.arch} ${Deno.build.os}; ` +
        "only the TypeScript paths are available",
    );
    throw failure;
  }
  try {
    library = Deno.dlopen("libc.so.6", LIBC_SYMBOLS);
  } catch (cause) {
    if (cause instanceof Deno.errors.NotCapable || cause instanceof Deno.errors.PermissionDenied) {
      // Not cached: the permission may be granted later in the same process.
      throw new JitUnavailableError(
        "permission",
        "neural-jit needs FFI access to run machine code: add --allow-ffi " +
          "(or run the deno.json tasks, which grant it with -P)",
        { cause },
      );
    }
    failure = new JitUnavailableError("library", `neural-jit: cannot open libc.so.6`, { cause });
    throw failure;
  }
  return library.symbols;
}

/** Whether the JIT can run in this process, without throwing. */
export function jitAvailable(): boolean {
  try {
    libc();
    return true;
  } catch {
    return false;
  }
}

/** The current thread's errno, read right after a failed libc call. */
export function errno(): number {
  const where = libc().__errno_location();
  return where === null ? 0 : new Deno.UnsafePointerView(where).getInt32(0);
}

/**
 * The calling thread's id (what `sched_setaffinity` takes for another
 * thread), through `syscall`: glibc's own `gettid` is missing before 2.30.
 */
export function threadId(): number {
  return Number(libc().syscall(BigInt(SYS_GETTID), 0n, 0n));
}

/** clock_gettime's clock of the calling thread's CPU time. */
const CLOCK_THREAD_CPUTIME_ID = 3;

/** The calling thread's CPU time in ns: a spin counts, a preemption does not. */
export function threadCpuNs(): number {
  const ts = new BigInt64Array(2);
  if (libc().clock_gettime(CLOCK_THREAD_CPUTIME_ID, new Uint8Array(ts.buffer)) !== 0) return NaN;
  return Number(ts[0]) * 1e9 + Number(ts[1]);
}

/** An Error for a failed libc call, naming the call and errno. */
export function libcError(call: string, code: number = errno()): Error {
  const names: Record<number, string> = {
    1: "EPERM",
    9: "EBADF",
    12: "ENOMEM",
    13: "EACCES",
    14: "EFAULT",
    22: "EINVAL",
    24: "EMFILE",
  };
  const name = names[code] ?? "errno";
  return new Error(`neural-jit: ${call} failed: ${name} (${code})`);
}

let pageSizeCache = 0;

/** The system page size in bytes. */
export function pageSize(): number {
  if (pageSizeCache === 0) pageSizeCache = Number(libc().sysconf(SC_PAGESIZE));
  return pageSizeCache;
}
