// Pulumi entry point: `pulumi up` calls the exported function and exports what it returns.
// The program lives in stacks/program.ts so `tierstack plan` and the tests run the same code.
import { buildStack } from "./stacks/program.js";

export = buildStack;
