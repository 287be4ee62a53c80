/** `strata index`: a multi-platform image (OCI index or Docker manifest list). Re-exports only. */
export { writeIndex, writeIndexTo, type IndexOptions, type IndexResult, type Platform } from "./write-index.js";
export { parseIndexDest, type IndexDest } from "./dest-ref.js";
