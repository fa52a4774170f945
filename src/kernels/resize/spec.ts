/**
 * What one resize call is (ONNX Resize on the last two axes of NCHW): its
 * modes, shapes, scales and options, as its key decodes (its tables:
 * tables.ts).
 *
 * @module
 */

/** Interpolation: ONNX Resize's mode. */
export type ResizeMode = "nearest" | "linear" | "cubic";
/** ONNX coordinate_transformation_mode values supported. */
export type CoordinateMode =
  | "half_pixel"
  | "asymmetric"
  | "align_corners"
  | "pytorch_half_pixel"
  | "half_pixel_symmetric"
  | "tf_half_pixel_for_nn"
  | "tf_crop_and_resize";
/**
 * ONNX nearest_mode values, and "simple": Resize-10's rule (it had no
 * nearest_mode), as ONNX Runtime keeps it: up when the axis shrinks, else
 * down.
 */
export type NearestMode = "round_prefer_floor" | "round_prefer_ceil" | "floor" | "ceil" | "simple";

/** Interpolation modes, by key value. */
export const RESIZE_MODES: readonly ResizeMode[] = ["nearest", "linear", "cubic"];
/** Coordinate transforms, by key value. */
export const COORDINATE_MODES: readonly CoordinateMode[] = [
  "half_pixel",
  "asymmetric",
  "align_corners",
  "pytorch_half_pixel",
  "half_pixel_symmetric",
  "tf_half_pixel_for_nn",
  "tf_crop_and_resize",
];
/** Nearest modes, by key value. */
export const NEAREST_MODES: readonly NearestMode[] = [
  "round_prefer_floor",
  "round_prefer_ceil",
  "floor",
  "ceil",
  "simple",
];

/** A decoded resize key. */
export interface ResizeSpec {
  mode: ResizeMode;
  coordinates: CoordinateMode;
  nearest: NearestMode;
  /** Planes (n·c), input and output sizes. */
  planes: number;
  h: number;
  w: number;
  oh: number;
  ow: number;
  /** The scales the coordinate transform divides by (out/in unless given). */
  scaleH: number;
  scaleW: number;
  /** Cubic's coefficient A (ONNX default −0.75). */
  cubicA: number;
  /** Taps outside the input weigh 0, the others renormalized (ONNX exclude_outside). */
  excludeOutside: boolean;
  /** Linear and cubic filters stretched by 1/scale where an axis shrinks (ONNX antialias). */
  antialias: boolean;
  /** tf_crop_and_resize's region, normalized: [startH, startW, endH, endW]. */
  roi: readonly [number, number, number, number];
  /** tf_crop_and_resize: the value of outputs whose coordinate falls outside the input. */
  extrapolation: number;
  /**
   * A part's band of output rows (of one plane; `oh` stays the whole
   * height the coordinates are of), or null: every row.
   */
  band: { start: number; rows: number } | null;
}

/** Argument block slots. */
export const RESIZE_ARG = { X: 0, Y: 1 } as const;

/** The spec as text. */
export function describeResize(s: ResizeSpec): string {
  const extra = s.mode === "nearest" ? ` ${s.nearest}` : s.mode === "cubic" ? ` A=${s.cubicA}` : "";
  const flags = `${s.excludeOutside ? " exclude_outside" : ""}${
    s.antialias && s.mode !== "nearest" ? " antialias" : ""
  }`;
  const crop = s.coordinates === "tf_crop_and_resize"
    ? ` roi=[${s.roi.join(",")}] extrapolation=${s.extrapolation}`
    : "";
  return `resize ${s.mode} ${s.planes}×${s.h}×${s.w} → ${s.oh}×${s.ow} ${s.coordinates}${extra}${flags}${crop}`;
}
