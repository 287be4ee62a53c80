export { narHashOf, writeNar, type NarInfo } from "./nar.js";
export { normaliseNarHash, parseSha256, sha256Base16, sha256Base32 } from "./hash-format.js";
export { nixDbFiles, nixDbSqlite, NIX_DB_DIR, GCROOTS_DIR, type NixDbFile, type NixDbFilesOptions, type NixDbOptions } from "./db-writer.js";
export { withNarHashes, type FillNarHashesOptions } from "./fill-nar-hashes.js";
export { parseDerivationOutputs, type DerivationOutput } from "./derivation-outputs.js";
export { NIX_SCHEMA_SQL, NIX_SCHEMA_VERSION } from "./schema.js";
