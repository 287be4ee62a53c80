export { type Credential, type AuthOptions, CredentialResolver, parseCreds } from "./auth.js";
export { RegistryClient, type RegistryClientOptions, type PulledManifest, type UploadSession, UploadRestartError } from "./client.js";
export { type ImageReference, DOCKER_HUB, formatReference, isDockerReference, manifestRef, parseReference } from "./reference.js";
export { DEFAULT_CHUNK_SIZE, RegistryBlobStore, type RegistryStats, type RegistryStoreOptions } from "./registry-store.js";
export { DEFAULT_RETRY, type RetryPolicy } from "./retry.js";
