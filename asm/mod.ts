/**
 * An x86-64 assembler in TypeScript whose bytes match GNU as, driven by one
 * instruction table (`table.ts`, one row per instruction form).
 *
 * @example
 * ```ts
 * import { Assembler, dword, rax, ZMM } from "./mod.ts";
 * const a = new Assembler({ listing: true });
 * a.emit("vfmadd231ps", ZMM[0], ZMM[1], dword(rax, 64).b);
 * a.emit("ret");
 * const program = a.finish();
 * console.log(program.listing());
 * ```
 *
 * @module
 */
export { Assembler } from "./assembler.ts";
export type { AssemblerOptions, ListingEntry, Program } from "./assembler.ts";
export { AssemblerError } from "./errors.ts";
export { assemble, assembleProgram } from "./parse.ts";
export { formatInstruction, formatMem, formatOperand } from "./format.ts";
export * from "./operands.ts";
export { GROUPS, TABLE } from "./table.ts";
export type { OperandSpec, Row, RowGroups, RowSpec } from "./rows.ts";
