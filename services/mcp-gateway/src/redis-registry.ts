import { Redis } from "ioredis";
import { connectRedis } from "@tierstack/common";
import { RedisSessionRegistry } from "./registry.js";

/**
 * The session registry in Redis, connected through the kit: `redis://` locally, `rediss://:<auth>@host:6378`
 * with REDIS_CA_FILE on Memorystore (TLS, the server's certificate checked against that CA, AUTH).
 * A wrong URL, CA, certificate or auth string fails the start with one line; after the first PING
 * the client reconnects by itself and commands wait in the offline queue meanwhile.
 */
export async function openRedisRegistry(url: string, prefix: string, ttlMs: number, caFile?: string): Promise<RedisSessionRegistry> {
  const redis = await connectRedis((o) => new Redis({ ...o, maxRetriesPerRequest: 2, enableOfflineQueue: true }), url, { caFile });
  return new RedisSessionRegistry(redis, prefix, ttlMs);
}
