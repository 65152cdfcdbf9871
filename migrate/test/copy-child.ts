/** A mover run in its own process, for the kill tests: copy-child.ts <store> <sqlite path> <pg url> <batch rows>. */
import { copyStore, openMove, type MovedStore } from "../stores.js";

async function main(): Promise<void> {
  const [store, path, url, batch] = process.argv.slice(2);
  const m = await openMove(store as MovedStore, path as string, url as string);
  await copyStore(m, { batchRows: Number(batch), afterBatch: (t, n) => void process.stdout.write(`batch ${t} ${n}\n`) });
  await m.close();
  process.stdout.write("done\n");
}

void main();
