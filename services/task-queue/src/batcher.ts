/**
 * Group commit inside the service: callers submit one item each; items that arrive while a
 * batch is running (or within the same turn of the event loop) are handed to `run` together,
 * which executes them in one transaction. Each caller is answered only when its batch has
 * committed, so batching never weakens durability: it only shares the commit (one fsync) among
 * the callers who were waiting anyway.
 */
export interface BatcherOptions {
  /** Most items in one batch. */
  maxBatch: number;
  /** Batches that may run at the same time (pipelining on several connections). */
  concurrency: number;
  /** Called with each batch size (metrics). */
  onBatch?: (size: number) => void;
}

interface Pending<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

export class Batcher<I, O> {
  private queue: Pending<I, O>[] = [];
  private running = 0;
  private scheduled = false;

  constructor(private readonly run: (items: I[]) => Promise<O[]>, private readonly opts: BatcherOptions) {
    if (opts.maxBatch < 1 || opts.concurrency < 1) throw new Error("Batcher: maxBatch and concurrency must be ≥ 1");
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
      this.opts.onBatch?.(batch.length);
      void this.execute(batch);
    }
  }

  private async execute(batch: Pending<I, O>[]): Promise<void> {
    try {
      const out = await this.run(batch.map((p) => p.item));
      if (out.length !== batch.length) throw new Error(`Batcher: run returned ${out.length} results for ${batch.length} items`);
      batch.forEach((p, i) => p.resolve(out[i] as O));
    } catch (err) {
      for (const p of batch) p.reject(err);
    } finally {
      this.running--;
      if (this.queue.length > 0) this.schedule();
    }
  }
}
