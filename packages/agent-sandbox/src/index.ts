/**
 * @tierstack/agent-sandbox: the kubernetes-sigs/agent-sandbox v1beta1 kinds (Sandbox,
 * SandboxTemplate, SandboxClaim, SandboxWarmPool) as data and types, and validate(obj), which
 * checks an object against the pinned upstream CRD schemas (see ./crds.ts for the pin and the
 * derivation). Shared by the tier-100 stack (which declares templates and warm pools) and the
 * brain (which creates claims, and whose tests serve an API server that refuses bad objects).
 */
export { apiVersions, crds, extensionsGroup, isSandboxKind, sandboxGroup, sandboxKinds, upstream, type CrdInfo, type CrdSchemaFile, type SandboxKind } from "./crds.js";
export { assertValid, formatErrors, validate, type SchemaError, type ValidationResult } from "./validate.js";
export type * from "./types.js";
