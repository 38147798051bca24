import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts", "src/**/*.test.ts"],
          environment: "node",
          // Property tests run thousands of cases; on a busy 2-core CI machine 5 s is too tight.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: "integration",
          // test/faults: the fault-injection suite (issue 10), same control plane and one file at a time.
          include: ["test/integration/**/*.test.ts", "test/faults/**/*.test.ts"],
          environment: "node",
          // One real control plane for the whole suite; tests isolate themselves by namespace.
          globalSetup: ["test/support/global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Files share one apiserver and a 2-core machine; run them one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
