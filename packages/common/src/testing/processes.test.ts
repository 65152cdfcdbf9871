import pg from "pg";
import { connect } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { startPrivateNats, startPrivatePostgres } from "./processes.js";

describe("private server instances for fault tests", () => {
  it("starts a private PostgreSQL, survives an immediate stop and starts again with the data", async () => {
    const db = await startPrivatePostgres();
    try {
      const c1 = new pg.Client({ connectionString: db.url });
      await c1.connect();
      await c1.query("CREATE TABLE t (v int); INSERT INTO t VALUES (42)");
      await c1.end();
      db.stop("immediate");
      await db.start();
      const c2 = new pg.Client({ connectionString: db.url });
      await c2.connect();
      expect((await c2.query("SELECT v FROM t")).rows).toEqual([{ v: 42 }]);
      expect((await c2.query("SHOW max_connections")).rows[0].max_connections).toBe("300");
      await c2.end();
    } finally {
      db.destroy();
    }
  });

  it("starts a private nats-server that can be stopped and restarted on its port", async () => {
    const nats = await startPrivateNats();
    try {
      const nc = await connect({ servers: nats.url });
      await nc.flush();
      await nc.close();
      await nats.stop();
      await nats.start();
      const nc2 = await connect({ servers: nats.url });
      expect(nc2.getServer()).toContain(String(nats.port));
      await nc2.close();
    } finally {
      await nats.destroy();
    }
  });
});
