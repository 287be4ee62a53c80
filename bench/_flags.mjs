import v8 from "node:v8";
for (const f of (process.env.V8F ?? "").split(" ").filter(Boolean)) v8.setFlagsFromString(f);
process.argv.splice(1, 1, new URL("../bin/strata.js", import.meta.url).pathname);
await import("../bin/strata.js");
