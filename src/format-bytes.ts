/**
 * Byte counts for people. Two scales, each kept where users already read it: decimal units for
 * what strata builds (progress, the summary, `strata plan`, `strata cache`), as disk and network
 * tools count; binary units for `strata inspect`, whose sizes sit beside the tar and registry
 * views of the same image.
 */

/** Decimal units: 1.40 GB, 47.3 MB, 12.0 kB. */
export function human(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e3).toFixed(1)} kB`;
}

/** Binary units: 512 B, 1.5 KiB, 10 MiB (one decimal below 10). */
export function humanSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}
