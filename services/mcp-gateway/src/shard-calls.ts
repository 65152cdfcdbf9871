/**
 * Sending one JSON-RPC request to a shard on behalf of a stateless (2026-07-28) client or a federated
 * session, whatever the shard speaks: natively to a 2026-07-28 shard, or over a legacy session (the
 * federated session's leg, or the bridge's pooled session) to a ≤ 2025-11-25 one. Every attempt goes
 * through callReplica.
 */
import { MODERN_VERSION, type ShardConfig } from "./config.js";
import type { ReplicaHealth } from "./health.js";
import type { JsonRpcMessage } from "./mcp.js";
import { legacyHeaders, modernHeaders, withoutModernMeta } from "./protocol.js";
import type { Leg, SessionRecord, SessionRegistry } from "./registry.js";
import { NotDelivered, callReplica, type Attempt } from "./replica-call.js";
import { UpstreamError, isReplicaDown, notDelivered, type BridgePool, type Upstream, type UpstreamResponse } from "./upstream.js";

export interface ShardSend {
  ns: string;
  msg: JsonRpcMessage;
  /** Body to send when the shard speaks 2026-07-28 natively (raw client bytes when unchanged). */
  body: Buffer | string;
  /** Client headers to pass on (Mcp-Param-*, Accept…), modern requests only. */
  headers: Record<string, string>;
  signal?: AbortSignal;
  /** Federated legacy session: use (or open) its leg for this namespace. */
  session?: SessionRecord;
}

/** What ShardCalls uses of the gateway's parts (the real classes; fakes in shard-calls.test.ts). */
export type ShardCallsHealth = Pick<ReplicaHealth, "pick" | "markDead" | "isAlive">;
export type ShardCallsUpstream = Pick<Upstream, "request" | "openSession" | "sessionKnown">;
export type ShardCallsBridge = Pick<BridgePool, "get" | "drop">;
export type ShardCallsRegistry = Pick<SessionRegistry, "setLegs">;

export class ShardCalls {
  constructor(
    private readonly shards: ReadonlyMap<string, ShardConfig>,
    private readonly health: ShardCallsHealth,
    private readonly upstream: ShardCallsUpstream,
    private readonly bridge: ShardCallsBridge,
    private readonly registry: ShardCallsRegistry,
  ) {}

  /**
   * The federated session's leg for a legacy shard: the recorded one while its replica is alive (and
   * `fresh` is false), else a new upstream session opened on a live replica and recorded. Opening a
   * session runs no tool, so any replica-down failure moves on to the next replica.
   */
  async ensureLeg(rec: SessionRecord, shard: ShardConfig, fresh: boolean): Promise<Leg> {
    const leg = rec.legs[shard.namespace];
    if (leg && !fresh && this.health.isAlive(leg.replica)) return leg;
    return callReplica(
      this.health,
      shard.namespace,
      async (replica) => {
        const upstreamSid = await this.upstream.openSession(replica, shard.protocol);
        rec.legs[shard.namespace] = { replica, upstream: upstreamSid };
        await this.registry.setLegs(rec.id, rec.legs);
        return rec.legs[shard.namespace] as Leg;
      },
      { retryIf: isReplicaDown },
    );
  }

  async send(s: ShardSend): Promise<UpstreamResponse> {
    const shard = this.shards.get(s.ns);
    if (!shard) throw new UpstreamError(`unknown namespace ${s.ns}`, 404);
    if (shard.protocol === MODERN_VERSION) {
      // Stateless: any live replica; retried on the next one while the request was not delivered.
      return callReplica(this.health, s.ns, (replica) => this.upstream.request(replica, "POST", { ...s.headers, ...modernHeaders(s.msg) }, s.body, s.signal));
    }
    return this.sendLegacy(s, shard);
  }

  /**
   * Legacy shard: on a federated session's leg, or on the bridge's pooled session of a live replica.
   * Two attempts: the second on a fresh session when the replica forgot the session (404, or a 400
   * that a ping on the session confirms: a restarted replica of many servers answers 400), the pooled
   * session could not be opened, or the request was not delivered. The retry may land on the same
   * replica (a forgotten session is reopened where it was, even on a one-replica shard).
   */
  private sendLegacy(s: ShardSend, shard: ShardConfig): Promise<UpstreamResponse> {
    const body = JSON.stringify(withoutModernMeta(s.msg));
    const session = s.session;
    let leg: Leg | undefined;
    const choose = session
      ? async (a: Attempt) => (leg = await this.ensureLeg(session, shard, a.n > 0)).replica
      : () => this.health.pick(s.ns);
    return callReplica(
      this.health,
      s.ns,
      async (replica, attempt) => {
        let sid: string;
        if (leg) sid = leg.upstream;
        else {
          try {
            sid = await this.bridge.get(replica, shard.protocol);
          } catch (err) {
            if (attempt.last) throw err;
            throw new NotDelivered(`bridge session on ${replica} not opened`, { cause: err });
          }
        }
        try {
          const res = await this.upstream.request(replica, "POST", legacyHeaders(sid, shard.protocol), body, s.signal);
          if (!attempt.last && (res.statusCode === 404 || (res.statusCode === 400 && !(await this.upstream.sessionKnown(replica, sid, shard.protocol))))) {
            await res.body.dump();
            if (!session) this.bridge.drop(replica);
            throw new NotDelivered(`session on ${replica} not found (HTTP ${res.statusCode})`);
          }
          return res;
        } catch (err) {
          if (isReplicaDown(err)) this.bridge.drop(replica);
          throw err;
        }
      },
      { attempts: 2, retryIf: notDelivered, choose },
    );
  }
}
