import { Redis } from "ioredis";
import { connectRedis } from "@tierstack/common";

/**
 * The brain's Redis (the send-rate bucket every replica shares), connected through the kit:
 * `redis://` locally, `rediss://:<auth>@host:6378` with REDIS_CA_FILE on Memorystore (TLS, the
 * server's certificate checked against that CA, AUTH). A wrong URL, CA, certificate or auth
 * string fails the start with one line.
 */
export function openRedis(url: string, caFile?: string): Promise<Redis> {
  return connectRedis((o) => new Redis({ ...o, maxRetriesPerRequest: 3 }), url, { caFile });
}
