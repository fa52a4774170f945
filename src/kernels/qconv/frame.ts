/**
 * The 8-bit convolution kernel's frame: the slots its loops keep in memory
 * (x's and y's image, loop counters, y's row and chunk pointers) and the
 * callee-saved registers it uses.
 *
 * @module
 */
import { r12, r13, r14, r15, rbp, rbx, type Reg } from "../../../asm/mod.ts";

/** Callee-saved registers the kernel uses. */
export const USED: Reg[] = [rbx, rbp, r12, r13, r14, r15];
/** Frame slots (bytes from rsp). */
export const XIMG = 0, YIMG = 8, IMG = 16, OY = 24, YROW = 32, CHUNK = 40, YCHUNK = 48;
/** More frame slots, and the frame's size. */
export const TILE = 56, OCH = 64, FRAME = 72;
