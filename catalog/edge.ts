/**
 * Which hostnames the tunnel routes, from the service catalogue: a service with public paths
 * gets <name>.<domain> routing only those paths (everything else falls to the tunnel's 404)
 * and <name>-admin.<domain> behind Access; every other service gets <name>.<domain> behind
 * Access. Nothing else (LiteLLM, NATS, llama-server) is routed at all.
 * Agents (machines) reach the services they call through the tunnel with a Cloudflare Access
 * service token; admin hostnames admit the operators' e-mails only.
 */
import { services, serviceNames, type ServiceName } from "./services.js";

/** Services agents call from outside the box: their hostnames also admit the agents' service token. */
export const agentServices: readonly ServiceName[] = ["task-queue", "mcp-gateway"];

export interface EdgeRoute {
  hostname: string;
  service: ServiceName;
  origin: string;
  /** cloudflared path regex; undefined on Access-protected hostnames (every path). */
  path?: string;
  access: boolean;
  /** Behind Access and also open to the agents' service token (not only to operator e-mails). */
  serviceToken: boolean;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Regex matching a public path prefix and what lies under it. */
export function publicPathRegex(prefix: string): string {
  return `^${escapeRegex(prefix)}(/.*)?$`;
}

export function edgeRoutes(domain: string): EdgeRoute[] {
  const routes: EdgeRoute[] = [];
  for (const name of serviceNames) {
    const spec = services[name];
    const origin = `http://127.0.0.1:${spec.port}`;
    if (spec.publicPaths.length > 0) {
      for (const p of spec.publicPaths) routes.push({ hostname: `${name}.${domain}`, service: name, origin, path: publicPathRegex(p), access: false, serviceToken: false });
      routes.push({ hostname: `${name}-admin.${domain}`, service: name, origin, access: true, serviceToken: false });
    } else {
      routes.push({ hostname: `${name}.${domain}`, service: name, origin, access: true, serviceToken: agentServices.includes(name) });
    }
  }
  return routes;
}
