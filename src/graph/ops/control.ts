/**
 * If: the plan runs the branch the condition picks in the node's place, so
 * the condition must be known when the plan is made — a constant, computed
 * from shapes, or a graph input the session keys its plans by (a bool or
 * integer input, as ONNX Runtime's merged decoders feed `use_cache_branch`).
 * Loop: unrolled when the plan is made — its trip count, first condition and
 * each iteration's condition out known then (a constant, from shapes, from the
 * iteration number, or a keyed input) —, at most 1024 iterations, the body's
 * nodes per iteration with their values renamed, scan outputs stacked.
 * Scan (opsets 9-25): unrolled the same way over its scan inputs' length (at
 * most 1024), each iteration's elements Gathered along their axes, in either
 * direction; scan outputs stacked along their axes, in either direction.
 * The nodes themselves never run: the plan expands them (plan.ts).
 */
import { fail, type OpDef } from "./op.ts";

const IF: OpDef = {
  attributes: [],
  infer(n) {
    fail(
      n,
      "the condition must be known when the plan is made (a constant, computed from shapes, " +
        "or a small bool or integer graph input)",
    );
  },
  build: () => null,
};

const LOOP: OpDef = {
  attributes: [],
  infer(n) {
    fail(
      n,
      "its trip count and each iteration's condition must be known when the plan is made",
    );
  },
  build: () => null,
};

const SCAN: OpDef = {
  attributes: [
    "num_scan_inputs",
    "scan_input_axes",
    "scan_input_directions",
    "scan_output_axes",
    "scan_output_directions",
  ],
  infer(n) {
    fail(n, "is unrolled when the plan is made");
  },
  build: () => null,
};

/** The control-flow ops. */
export const CONTROL_OPS: Record<string, OpDef> = { If: IF, Loop: LOOP, Scan: SCAN };
