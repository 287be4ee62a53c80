import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/helpers/global-setup.ts"],
    // Interop tests start real tools (skopeo, podman, nix-store); builds of big fixtures take seconds.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Worker pools inside tests already use both cores; running test files in parallel on top of
    // that only makes timings noisier.
    fileParallelism: false,
  },
});
