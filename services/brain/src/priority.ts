/**
 * The worker process gives way to webhook ingest on a busy CPU: it lowers its own priority
 * (raises its niceness, which needs no privilege). On Linux a niceness belongs to a thread, and a
 * thread starts with its creator's: every thread alive now (V8's, libuv's) is set through
 * /proc/self/task, and threads started later from the main thread inherit it.
 */
import { readdirSync } from "node:fs";
import { getPriority, setPriority } from "node:os";

export interface Lowered {
  nice: number;
  /** Threads set (Linux), or 1 where the process is set as a whole. */
  threads: number;
}

export function lowerPriority(nice: number): Lowered {
  if (!Number.isInteger(nice) || nice < 0 || nice > 19) throw new RangeError(`niceness ${nice}: expected an integer from 0 to 19`);
  let tids: number[];
  try {
    tids = readdirSync("/proc/self/task").map(Number).filter((t) => t > 0);
  } catch {
    tids = [];
  }
  if (!tids.length) {
    setPriority(0, Math.max(getPriority(0), nice));
    return { nice: getPriority(0), threads: 1 };
  }
  let threads = 0;
  for (const tid of tids) {
    try {
      // Never raise a thread's priority back (an operator may have started the brain niced already).
      setPriority(tid, Math.max(getPriority(tid), nice));
      threads++;
    } catch {
      // a thread that ended meanwhile
    }
  }
  return { nice: getPriority(0), threads };
}

/** Niceness of each thread of a process (its threads listed from /proc); for tests. */
export function threadNiceness(pid: number | "self" = "self"): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    try {
      return getPriority(Number(tid));
    } catch {
      return Number.NaN;
    }
  }).filter((n) => !Number.isNaN(n));
}
