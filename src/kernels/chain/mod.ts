/**
 * The elementwise chain family: several unary and binary-with-constant (or
 * with-x) steps in one pass.
 *
 * @module
 */
export { CHAIN, chainReference } from "./family.ts";
export { type ChainStep, ChainSteps, readChain } from "./read.ts";
export { type ChainSpec, describeChain, MAX_CHAIN_STEPS } from "./spec.ts";
