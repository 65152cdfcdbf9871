import { defineConfig } from "vitest/config";

// One run over the whole repository: the Pulumi program's tests, the CLI's and every
// service's. The JSON report feeds the closing "N passed, N failed" line of .ci/run.
export default defineConfig({
  test: {
    include: ["**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**", ".data/**"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    reporters: ["default", ["json", { outputFile: ".vitest-report.json" }]],
  },
});
