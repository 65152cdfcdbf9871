/** A JetStream stream's position, to check that a mirror or a sourced stream has caught up. */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

export async function streamState(servers: string, stream: string): Promise<{ lastSeq: number; messages: number }> {
  const nc = await connect({ servers: servers.split(","), timeout: 5000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    const info = await jsm.streams.info(stream);
    return { lastSeq: info.state.last_seq, messages: info.state.messages };
  } finally {
    await nc.close();
  }
}
