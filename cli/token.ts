import { parseCommandArgs, UsageError } from "./args.js";

/**
 * `tierstack token issue|list|revoke|rotate`: agent tokens for the task queue and the MCP
 * gateway, written straight into the store the services read (DATABASE_URL, default the
 * single box's local SQLite file). The token is printed once; only its hash is stored.
 */
export const tokenUsage = `usage: tierstack token <command> [--db URL]
  issue <agent> [--label TEXT] [--ttl SECONDS]   print a new token for the agent (shown once)
  list [<agent>]                                 ids, agents, state; never the tokens
  revoke <id>                                    the token stops working (within the services' 5 s cache)
  rotate <agent> [--grace SECONDS]               new token; the agent's others expire after the grace (default 3600)
  --db URL   sqlite:<path> or postgres://… (default: $DATABASE_URL, else sqlite:./.data/task-queue.db)`;

export async function runToken(argv: string[], out: (line: string) => void = (l) => console.log(l)): Promise<number> {
  const { values, positionals } = parseCommandArgs("token", "tierstack token --help", argv, {
    db: { type: "string" }, label: { type: "string" }, ttl: { type: "string" }, grace: { type: "string" }, help: { type: "boolean", short: "h" },
  });
  const [cmd, arg] = positionals;
  if (values.help || !cmd) {
    out(tokenUsage);
    return values.help ? 0 : 2;
  }
  const num = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name}=${JSON.stringify(v)}: expected a positive whole number of seconds`);
    return n;
  };
  const need = (what: string) => {
    if (!arg) throw new UsageError(`token ${cmd}: missing <${what}>\n${tokenUsage}`);
    return arg;
  };
  const url = values.db ?? process.env.DATABASE_URL ?? "sqlite:./.data/task-queue.db";
  const { AgentTokens, openTokenStore } = await import("@tierstack/common");
  if (url.startsWith("sqlite:")) {
    const { mkdirSync } = await import("node:fs");
    const { dirname } = await import("node:path");
    mkdirSync(dirname(url.slice("sqlite:".length)), { recursive: true });
  }
  const { store, close } = await openTokenStore(url);
  const tokens = new AgentTokens(store, { cacheMs: 0 });
  try {
    switch (cmd) {
      case "issue": {
        const t = await tokens.issue(need("agent"), { label: values.label, ttlSeconds: num("ttl", values.ttl) });
        out(t.token);
        return 0;
      }
      case "rotate": {
        const t = await tokens.rotate(need("agent"), { graceSeconds: num("grace", values.grace) });
        out(t.token);
        process.stderr.write(`${t.expiring} older token(s) of ${arg} expire in ${num("grace", values.grace) ?? 3600} s\n`);
        return 0;
      }
      case "revoke": {
        const ok = await tokens.revoke(need("id"));
        if (!ok) {
          process.stderr.write(`token ${arg}: no live token with that id\n`);
          return 1;
        }
        out(`revoked ${arg}`);
        return 0;
      }
      case "list": {
        const now = Date.now();
        for (const t of await tokens.list(arg)) {
          const state = t.revokedAt ? "revoked" : t.expiresAt && t.expiresAt.getTime() <= now ? "expired" : t.expiresAt ? `expires ${t.expiresAt.toISOString()}` : "live";
          out(`${t.id}  ${t.agent}  ${state}  created ${t.createdAt.toISOString()}${t.label ? `  ${t.label}` : ""}`);
        }
        return 0;
      }
      default:
        throw new UsageError(`token: unknown command ${JSON.stringify(cmd)}\n${tokenUsage}`);
    }
  } finally {
    await close();
  }
}

export { UsageError };
