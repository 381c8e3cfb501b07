import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/setup-env.ts"],
    // One worker, no isolation: every test file shares one bridge runtime (test/shared-runtime.ts),
    // so torch is imported once for the whole suite.
    isolate: false,
    fileParallelism: false,
    pool: "forks",
    testTimeout: 120_000,
    hookTimeout: 300_000,
    reporters: ["default"],
  },
});
