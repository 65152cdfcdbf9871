import { AgentTokens, exitOnStartError, redactUrl, runService } from "@tierstack/common";
import { buildApp } from "./app.js";
import { restoreCutover } from "./cutover-routes.js";
import { readConfig } from "./config.js";
import { openStores } from "./open-store.js";
import { OutboxRelay } from "./relay.js";

/** `node --import tsx services/task-queue/src/server.ts` with DATABASE_URL (and optional NATS_URL). */
async function main(): Promise<void> {
  const config = readConfig();
  const { store, tokens } = await openStores(config.database, {
    poolMax: config.pgPoolMax,
    onError: (err, where) => process.stderr.write(`task-queue: ${where}: ${(err as Error).message}\n`),
  });
  const svc = buildApp(config, {
    store,
    tokens: new AgentTokens(tokens),
    relay: config.natsUrl
      ? (s) => new OutboxRelay(store, {
          servers: config.natsUrl as string,
          stream: config.natsStream,
          subjectPrefix: config.natsSubjectPrefix,
          replicas: config.natsStreamReplicas,
          duplicateWindowSeconds: config.natsDuplicateWindowSeconds,
          log: s.app.log,
        }, s.metrics)
      : undefined,
  });
  const log = svc.app.log;
  log.info({ store: store.kind, database: redactUrl(config.databaseUrl) }, "task store ready");
  const mode = await restoreCutover({ store, queue: svc.queue, cut: svc.cutover });
  if (mode !== "serving") log.warn({ mode }, `a cut-over ${mode === "frozen" ? "froze" : "drained"} this store before the restart: still ${mode} until POST /admin/cutover/resume`);
  if (svc.relay && mode !== "frozen") svc.relay.start();
  else if (!svc.relay) log.warn("NATS_URL is not set: events stay in the outbox until a relay with NATS_URL runs");
  svc.queue.start();
  await runService(svc, {
    port: config.port,
    host: config.host,
    onClose: async () => {
      await store.close();
    },
  });
  log.info({ port: config.port }, "task-queue listening");
}

main().catch((err) => exitOnStartError("task-queue", err));
