/**
 * The one error type of the assembler.
 *
 * @module
 */

/**
 * Thrown when the assembler cannot emit correct bytes: an operand combination
 * the instruction table lacks, a register that cannot take a needed prefix, a
 * value out of range, a label bound twice or never. Never emits wrong bytes.
 */
export class AssemblerError extends Error {
  /** The instruction (or directive) being assembled, as text, if known. */
  readonly instruction: string;
  /** Why it failed. */
  readonly reason: string;
  /** Builds the error from the instruction text and the reason. */
  constructor(instruction: string, reason: string) {
    super(instruction ? `${instruction}: ${reason}` : reason);
    this.name = "AssemblerError";
    this.instruction = instruction;
    this.reason = reason;
  }
}
