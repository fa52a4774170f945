/**
 * If: the plan runs the branch the condition picks in the node's place, so
 * the condition must be known when the plan is made — a constant, computed
 * from shapes, or a graph input the session keys its plans by (a bool or
 * integer input, as ONNX Runtime's merged decoders feed `use_cache_branch`).
 * The node itself never runs: the plan expands it (plan.ts).
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

/** The control-flow ops. */
export const CONTROL_OPS: Record<string, OpDef> = { If: IF };
