/** The fusions in the order they run: adding one is a module plus its line here. */
import type { Fusion } from "./fusion.ts";

export const FUSIONS: readonly Fusion[] = [];
