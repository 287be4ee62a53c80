const t0 = performance.now();
await import("../dist/src/cli.js");
const t1 = performance.now();
await import("../dist/src/pool/pool.js");
const t2 = performance.now();
await import("../dist/src/build.js");
const t3 = performance.now();
console.log(`cli ${(t1-t0).toFixed(1)} pool ${(t2-t1).toFixed(1)} build ${(t3-t2).toFixed(1)} sinceStart ${t3.toFixed(1)}`);
