/**
 * The layering rule (docs/adr/0003-layout-one-way-dependencies.md), checked by `npm run lint`:
 *
 *   catalog/ → config/ → components/, gpu-node/ → stacks/ → cli/
 *
 * Each layer imports only the layers to its left. services/ and packages/ are deployed on
 * their own and never import the Pulumi program or a Pulumi SDK; policy/ and the migrations
 * read the catalogue and the recorded plan, and nothing below cli/ imports them.
 */
const program = "^(catalog|config|components|gpu-node|stacks|cli|policy|migrate)/|^index\\.ts$";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "A runtime cycle makes two modules one; split what both need into a lower layer (type-only imports vanish at compile time and may point both ways).",
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } },
    },
    {
      name: "catalog-is-the-floor",
      severity: "error",
      comment: "catalog/ is data and types: it imports no other layer and no Pulumi SDK.",
      from: { path: "^catalog/" },
      to: { path: [program, "(^|/)node_modules/@pulumi/"], pathNot: "^catalog/" },
    },
    {
      name: "config-reads-only-the-catalog",
      severity: "error",
      from: { path: "^config/" },
      to: { path: "^(components|gpu-node|stacks|cli|policy|migrate)/|^index\\.ts$" },
    },
    {
      name: "components-are-leaves",
      severity: "error",
      comment: "A component takes typed args; it imports neither a stack, the stack config nor the CLI.",
      from: { path: "^(components|gpu-node)/" },
      to: { path: "^(config|stacks|cli|policy|migrate)/|^index\\.ts$" },
    },
    {
      name: "stacks-below-cli",
      severity: "error",
      from: { path: "^stacks/" },
      to: { path: "^(cli|policy|migrate)/" },
    },
    {
      name: "policy-and-migrations-read-never-the-other-way",
      severity: "error",
      from: { path: "^(catalog|config|components|gpu-node|stacks|cost)/" },
      to: { path: "^(policy|migrate)/" },
    },
    {
      name: "policy-reads-the-catalogue-and-the-plan",
      severity: "error",
      comment: "The policy pack reads the catalogue, the config parser, gpu-node's capacity model and @tierstack/cost; a plan reaches it as data (policy/resource.ts), never by importing a composition, a component or the CLI.",
      from: { path: "^policy/" },
      to: { path: "^(stacks|components|cli|migrate)/|^index\\.ts$" },
    },
    {
      name: "services-stay-off-the-program",
      severity: "error",
      comment: "Services and the kit ship in their own image: no Pulumi program, no Pulumi SDK (tests may read the catalogue).",
      from: { path: "^(services|packages|cost)/" },
      to: { path: [program.replace("^(catalog|", "^("), "(^|/)node_modules/@pulumi/"] },
    },
    {
      name: "services-src-without-the-catalog",
      severity: "error",
      comment: "A service's runtime code reads its environment, not the catalogue (only its tests compare the two).",
      from: { path: "^(services|packages)/[^/]+/src/", pathNot: "\\.test\\.ts$" },
      to: { path: "^catalog/" },
    },
    {
      name: "program-without-service-runtimes",
      severity: "error",
      comment: "The Pulumi program must not pull in a service's runtime (fastify, database drivers).",
      from: { path: "^(catalog|config|components|gpu-node|stacks)/", pathNot: "\\.test\\.ts$" },
      to: { path: ["(^|/)node_modules/(fastify|better-sqlite3|pg|pino|undici)/", "^services/", "^packages/common/"] },
    },
    {
      name: "shard-map-is-dependency-free",
      severity: "error",
      from: { path: "^packages/shard-map/src/", pathNot: "\\.test\\.ts$" },
      to: { pathNot: "^packages/shard-map/" },
    },
  ],
  options: {
    doNotFollow: { path: "(^|/)node_modules/" },
    exclude: { path: "(^|/)(dist|\\.data|bench/\\.out)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".js", ".mjs", ".cjs", ".json", ".d.ts"],
      mainFields: ["module", "main", "types"],
    },
  },
};
