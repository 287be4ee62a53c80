/** `strata export`: an image's flattened filesystem as one tar. Re-exports only. */
export { exportImage, type ExportOptions, type ExportResult } from "./export-image.js";
