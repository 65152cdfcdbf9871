/**
 * Group commit inside a service: callers submit one item each; items that arrive while a batch
 * is running (or within the same turn of the event loop) are handed to `run` together, which
 * executes them in one transaction. Each caller is answered only when its batch has committed,
 * so batching never weakens durability: it only shares the commit (one fsync, one round trip)
 * among the callers who were waiting anyway.
 *
 * A bad item does not take its batch down with it: when a batch of several items fails, each
 * of them is run again alone, so only the items that fail on their own are rejected. (The
 * failed batch committed nothing — `run` is one transaction — so running an item again is the
 * same as its caller retrying.) A batch of one that fails is rejected at once.
 *
 * Used by the task queue (enqueue, claim, complete) and the brain (webhook inbox writes).
 */
export interface GroupCommitOptions {
  /** Most items in one batch. */
  maxBatch: number;
  /** Batches that may run at the same time (pipelining on several connections; 1 for one writer). */
  concurrency: number;
  /** Called with the size of every run, including the single-item reruns after a failed batch (metrics). */
  onBatch?: (size: number) => void;
}

interface Pending<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

export class GroupCommit<I, O> {
  private queue: Pending<I, O>[] = [];
  private running = 0;
  private scheduled = false;

  /** `run` gets a batch and returns one result per item, in order, after its commit. */
  constructor(private readonly run: (items: I[]) => Promise<O[]>, private readonly opts: GroupCommitOptions) {
    if (!(opts.maxBatch >= 1) || !(opts.concurrency >= 1)) throw new Error("GroupCommit: maxBatch and concurrency must be ≥ 1");
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Items waiting for a batch slot. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Batches in progress. */
  get inFlight(): number {
    return this.running;
  }

  private schedule(): void {
    if (this.scheduled || this.running >= this.opts.concurrency) return;
    this.scheduled = true;
    // setImmediate: let every request that is already readable in this event-loop turn join.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.running < this.opts.concurrency && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.opts.maxBatch);
      this.running++;
      void this.execute(batch);
    }
  }

  private async runChecked(items: I[]): Promise<O[]> {
    this.opts.onBatch?.(items.length);
    const out = await this.run(items);
    if (out.length !== items.length) throw new Error(`GroupCommit: run returned ${out.length} results for ${items.length} items`);
    return out;
  }

  private async execute(batch: Pending<I, O>[]): Promise<void> {
    try {
      const out = await this.runChecked(batch.map((p) => p.item));
      batch.forEach((p, i) => p.resolve(out[i] as O));
    } catch (err) {
      if (batch.length === 1) (batch[0] as Pending<I, O>).reject(err);
      else {
        // One caller's item must not fail the others: run each alone.
        for (const p of batch) {
          try {
            p.resolve((await this.runChecked([p.item]))[0] as O);
          } catch (e) {
            p.reject(e);
          }
        }
      }
    } finally {
      this.running--;
      if (this.queue.length > 0) this.schedule();
    }
  }
}
