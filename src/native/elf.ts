/**
 * A minimal ELF64 x86-64 shared object, written byte by byte.
 *
 * The dispatch path needs a function that V8 calls through its fast FFI path,
 * and only symbols of a `Deno.dlopen`ed library get that. So we emit a tiny
 * library ourselves: no sections, two PT_LOAD segments (code R+X, dynamic
 * table R+W, so the loader may relocate it in place on any glibc), PT_DYNAMIC,
 * PT_GNU_STACK (non-executable stack), and a SysV hash table with one bucket,
 * which is all `dlsym` needs.
 *
 * @module
 */

/** One exported function of the object. */
export interface ElfFunction {
  /** Symbol name. */
  name: string;
  /** Its machine code. */
  code: Uint8Array;
}

const EHDR = 64;
const PHDR = 56;
const SYM = 24;
const PAGE = 0x1000;

const DT_NULL = 0;
const DT_HASH = 4;
const DT_STRTAB = 5;
const DT_SYMTAB = 6;
const DT_STRSZ = 10;
const DT_SYMENT = 11;

/** Builds the bytes of a shared object exporting `functions`. */
export function buildSharedObject(functions: readonly ElfFunction[]): Uint8Array {
  const names = new TextEncoder();
  const phnum = 4;
  const nsym = functions.length + 1; // entry 0 is the null symbol
  let off = EHDR + PHDR * phnum;

  const hashOff = off;
  off += 4 * (2 + 1 + nsym); // nbucket, nchain, one bucket, chains
  off = align(off, 8);
  const symOff = off;
  off += SYM * nsym;

  const strtab: number[] = [0];
  const nameOff: number[] = [];
  for (const f of functions) {
    nameOff.push(strtab.length);
    strtab.push(...names.encode(f.name), 0);
  }
  const strOff = off;
  off += strtab.length;

  const codeOff: number[] = [];
  for (const f of functions) {
    off = align(off, 16);
    codeOff.push(off);
    off += f.code.length;
  }
  const textEnd = align(off, 16);

  // The dynamic table sits in its own segment one page further in memory, so
  // its page never shares protection with code.
  const dynamic: [number, number][] = [
    [DT_HASH, hashOff],
    [DT_STRTAB, strOff],
    [DT_SYMTAB, symOff],
    [DT_STRSZ, strtab.length],
    [DT_SYMENT, SYM],
    [DT_NULL, 0],
  ];
  const dynOff = textEnd;
  const dynAddr = align(textEnd, PAGE) + (dynOff % PAGE);
  const fileEnd = dynOff + 16 * dynamic.length;

  const out = new Uint8Array(fileEnd);
  const dv = new DataView(out.buffer);
  const u16 = (at: number, v: number) => dv.setUint16(at, v, true);
  const u32 = (at: number, v: number) => dv.setUint32(at, v, true);
  const u64 = (at: number, v: number) => dv.setBigUint64(at, BigInt(v), true);

  // ELF header: ELFCLASS64, little endian, version 1, ET_DYN, EM_X86_64.
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]);
  u16(16, 3);
  u16(18, 62);
  u32(20, 1);
  u64(32, EHDR);
  u16(52, EHDR);
  u16(54, PHDR);
  u16(56, phnum);
  u16(58, 64);

  const phdr = (i: number, type: number, flags: number, o: number, a: number, size: number) => {
    const at = EHDR + PHDR * i;
    u32(at, type);
    u32(at + 4, flags);
    u64(at + 8, o);
    u64(at + 16, a);
    u64(at + 24, a);
    u64(at + 32, size);
    u64(at + 40, size);
    u64(at + 48, type === 1 ? PAGE : 8);
  };
  const PT_LOAD = 1, PT_DYNAMIC = 2, PT_GNU_STACK = 0x6474e551, PF_X = 1, PF_W = 2, PF_R = 4;
  phdr(0, PT_LOAD, PF_R | PF_X, 0, 0, textEnd);
  phdr(1, PT_LOAD, PF_R | PF_W, dynOff, dynAddr, fileEnd - dynOff);
  phdr(2, PT_DYNAMIC, PF_R | PF_W, dynOff, dynAddr, fileEnd - dynOff);
  // Without PT_GNU_STACK, glibc assumes the object needs an executable stack
  // and remaps every thread's stack read-write-execute. Say it does not.
  phdr(3, PT_GNU_STACK, PF_R | PF_W, 0, 0, 0);

  // Hash: one bucket holding symbol 1, each chain links to the next symbol.
  u32(hashOff, 1);
  u32(hashOff + 4, nsym);
  u32(hashOff + 8, nsym > 1 ? 1 : 0);
  for (let i = 1; i < nsym; i++) u32(hashOff + 12 + 4 * i, i + 1 < nsym ? i + 1 : 0);

  functions.forEach((f, j) => {
    const at = symOff + SYM * (j + 1);
    u32(at, nameOff[j]);
    out[at + 4] = 0x12; // STB_GLOBAL | STT_FUNC
    u16(at + 6, 1); // any defined section index; there is no section table
    u64(at + 8, codeOff[j]);
    u64(at + 16, f.code.length);
    out.set(f.code, codeOff[j]);
  });
  out.set(strtab, strOff);
  dynamic.forEach(([tag, value], i) => {
    u64(dynOff + 16 * i, tag);
    u64(dynOff + 16 * i + 8, value);
  });
  return out;
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}
