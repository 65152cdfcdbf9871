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
    // Two test files at a time (the default on 2 cores is one): most suites wait on child
    // processes, databases and brokers, and each file isolates what it shares (its own schema or
    // database, stream names, private servers on free ports). 691 s → 386 s for the whole run.
    maxWorkers: 2,
    reporters: ["default", ["json", { outputFile: ".vitest-report.json" }]],
  },
});
