import { AgentTokens, exitOnStartError, openTokenStore, runService } from "@tierstack/common";
import { buildApp } from "./app.js";
import { readConfig } from "./config.js";
import { openRedisRegistry } from "./redis-registry.js";
import { MemorySessionRegistry } from "./registry.js";

async function main() {
  const config = readConfig();
  const tokenStore = await openTokenStore(config.tokensDatabaseUrl);
  const ttlMs = config.sessionTtlSeconds * 1000;
  const registry = config.redisUrl
    ? await openRedisRegistry(config.redisUrl, config.redisPrefix, ttlMs, config.redisCaFile)
    : new MemorySessionRegistry(ttlMs);
  const gw = buildApp(config, { tokens: new AgentTokens(tokenStore.store), registry });
  await gw.health.start();
  gw.app.log.info({ namespaces: config.shards.map((s) => s.namespace), registry: registry.kind }, "mcp-gateway starting");
  await runService(gw.svc, {
    port: config.port,
    host: config.host,
    onClose: async () => {
      await gw.close();
      await tokenStore.close();
    },
  });
}

main().catch((err) => exitOnStartError("mcp-gateway", err));
