#!/usr/bin/env node
// strata's command line. The implementation is compiled to dist/ by `npm ci` (the prepare script).
import v8 from "node:v8";

// Cap the main thread's young generation at 2 MiB semi-spaces (V8's default lets it grow to 16):
// its garbage is short-lived, and the larger young generation made peak memory grow with the
// closure (1G -> 4G: 1.24x -> 1.16x), at no measured cost in speed (docs/benchmarks.md). Set
// before the CLI is loaded; the worker threads have their own limits (src/pool/pool.ts).
v8.setFlagsFromString("--max-semi-space-size=2");
// No inlining in V8's optimizing compiler (TurboFan), for every thread: each worker compiles its
// hot functions (the walk, the tar writer) itself, and with inlining every compile carries the
// callees along and every deopt of one recompiles the lot. Without it, TurboFan's time in a 1 GB
// build halves (~580 -> ~300 ms), and the build takes ~5% less CPU and wall time; planning and
// compression are unchanged (docs/benchmarks.md).
v8.setFlagsFromString("--no-turbo-inlining");
const { main } = await import("../dist/src/cli.js");

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`strata: E_INTERNAL: ${err?.stack ?? err}\n`);
    process.exitCode = 1;
  },
);
