// A worker agent for the reliability tests: claim → work → complete over HTTP, one line per step
// on stdout (CLAIMED|HOLDING <id>, DONE <id>, STALE <id>, ERR <status>). Plain JavaScript so that a
// replacement starts in milliseconds after the test SIGKILLs one.
const { TQ_URL, TQ_TOKEN, TQ_QUEUE = "work", TQ_LEASE_SECONDS = "2", TQ_WORK_MS = "20", TQ_HOLD_EVERY = "0", TQ_HOLD_MS = "1000" } = process.env;
const headers = { authorization: `Bearer ${TQ_TOKEN}`, "content-type": "application/json" };
const post = async (path, body) => {
  const r = await fetch(`${TQ_URL}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
};
const say = (line) => new Promise((resolve) => process.stdout.write(`${line}\n`, resolve));

for (;;) {
  let claim;
  try {
    claim = await post("/v1/claim", { queues: [TQ_QUEUE], limit: 1, leaseSeconds: Number(TQ_LEASE_SECONDS), waitMs: 1000 });
  } catch (err) {
    await say(`ERR claim ${err.message}`);
    await new Promise((r) => setTimeout(r, 100));
    continue;
  }
  const task = claim.body.tasks?.[0];
  if (!task) continue;
  // Every TQ_HOLD_EVERY-th task id is "long work": HOLDING tells the test this lease is held for a while.
  const hold = Number(TQ_HOLD_EVERY) > 0 && task.id % Number(TQ_HOLD_EVERY) === 0;
  await say(`${hold ? "HOLDING" : "CLAIMED"} ${task.id}`);
  await new Promise((r) => setTimeout(r, hold ? Number(TQ_HOLD_MS) : Number(TQ_WORK_MS)));
  const done = await post(`/v1/tasks/${task.id}/complete`, { leaseToken: task.leaseToken, result: { by: process.pid } });
  await say(done.status === 200 ? `DONE ${task.id}` : done.status === 409 ? `STALE ${task.id}` : `ERR complete ${done.status}`);
}
