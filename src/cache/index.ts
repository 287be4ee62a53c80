export { LayerCache, DEFAULT_PRUNE_DAYS, type LayerCacheOptions } from "./layer-cache.js";
export { cacheDir, DB_FILE } from "./cache-dir.js";
export type { BlobCompression, CachedBlob, CachedLayer, CacheStats, FileStamp, PruneOptions, PruneResult } from "./types.js";
