/**
 * The squaredDistances family: ‖a[i] − b[:, j]‖² for every row of a and
 * column of b, term by term in float32.
 *
 * @module
 */
export { DISTANCES, distancesReference } from "./family.ts";
export { readSquaredDistances, type SquaredDistancesOptions } from "./read.ts";
