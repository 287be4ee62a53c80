#!/usr/bin/env node
// strata's command line. The implementation is compiled to dist/ by `npm ci` (the prepare script).
import { main } from "../dist/src/cli.js";

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`strata: E_INTERNAL: ${err?.stack ?? err}\n`);
    process.exitCode = 1;
  },
);
