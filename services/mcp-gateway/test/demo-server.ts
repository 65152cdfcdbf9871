/**
 * Demo MCP server for `npm run local`: the test replica (SDK McpServer, tools whoami/echo/noop) with
 * local defaults. The SDK is a devDependency, so this lives under test/ and runs from a dev checkout:
 *   PORT=9101 NAMESPACE=dev-tools node --import tsx services/mcp-gateway/test/demo-server.ts
 */
process.env.PORT ??= "9101";
process.env.NAMESPACE ??= "dev-tools";
await import("./replica.js");
