/**
 * The sequence ops, resolved when the plan is made: a sequence is a list of
 * tensor values the plan tracks by name (positions known then — constants,
 * shapes, keyed inputs), so SequenceAt is a view of an element,
 * ConcatFromSequence a Concat, SplitToSequence a Split, SequenceLength a
 * constant (plan.ts). Sequences as graph inputs or outputs are not supported.
 * SequenceMap's body runs once per element (unrolled, plan.ts).
 * Optional values (opsets 15-18) the same way, as lists of none or one tensor:
 * OptionalHasElement a constant, OptionalGetElement a view of the element.
 */
import { fail, type OpDef } from "./op.ts";

const planned = (attributes: string[]): OpDef => ({
  attributes,
  expands: true,
  infer(n) {
    fail(n, "sequence positions must be known when the plan is made");
  },
  build: () => null,
});

/** The sequence ops (the plan expands them). */
export const SEQUENCE_OPS: Record<string, OpDef> = {
  SequenceEmpty: planned(["dtype"]),
  SequenceConstruct: planned([]),
  SequenceInsert: planned([]),
  SequenceErase: planned([]),
  SequenceAt: planned([]),
  SequenceLength: planned([]),
  ConcatFromSequence: planned(["axis", "new_axis"]),
  SplitToSequence: planned(["axis", "keepdims"]),
  SequenceMap: planned([]),
  Optional: planned(["type"]),
  OptionalHasElement: planned([]),
  OptionalGetElement: planned([]),
};
