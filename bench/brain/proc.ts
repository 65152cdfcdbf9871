/**
 * CPU time of whole process trees from /proc (Linux), for the brain benchmark's cost per message.
 * A snapshot lists every descendant of a root pid (the root included) with its own utime + stime
 * and its reaped children's cutime + cstime, so the tree's time between two snapshots is
 * Σ(own + children) at the end − the same at the start: a child that exits in between is counted
 * through its parent's cutime/cstime. Each process gets a label: its role in the brain (the one
 * listening on the webhook port is ingest) or its PostgreSQL title, and a PostgreSQL backend is
 * labelled with the brain process at the other end of its TCP connection.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

const HZ = (() => {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

interface Stat { pid: number; ppid: number; comm: string; own: number; children: number }

function stat(pid: number): Stat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = s.lastIndexOf(")");
    const f = s.slice(close + 2).split(" ");
    // after "pid (comm) ": [0] state, [1] ppid, … [11] utime, [12] stime, [13] cutime, [14] cstime (proc(5) fields 14-17)
    return { pid, ppid: Number(f[1]), comm: s.slice(s.indexOf("(") + 1, close), own: (Number(f[11]) + Number(f[12])) * (1000 / HZ), children: (Number(f[13]) + Number(f[14])) * (1000 / HZ) };
  } catch {
    return undefined; // exited meanwhile
  }
}

function allStats(): Stat[] {
  const out: Stat[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const s = stat(Number(d));
    if (s) out.push(s);
  }
  return out;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0+$/, "").replace(/\0/g, " ");
  } catch {
    return "";
  }
}

export interface ProcCpu { pid: number; cmd: string; ms: number }
export interface TreeSnapshot { at: number; procs: Map<number, ProcCpu>; totalMs: number }

/** Every descendant of each root (roots included), with its command line and CPU so far. */
export function snapshot(roots: number[]): TreeSnapshot {
  const stats = allStats();
  const kids = new Map<number, Stat[]>();
  for (const s of stats) kids.set(s.ppid, [...(kids.get(s.ppid) ?? []), s]);
  const byPid = new Map(stats.map((s) => [s.pid, s]));
  const procs = new Map<number, ProcCpu>();
  const walk = (s: Stat) => {
    if (procs.has(s.pid)) return;
    procs.set(s.pid, { pid: s.pid, cmd: cmdline(s.pid) || s.comm, ms: s.own + s.children });
    for (const k of kids.get(s.pid) ?? []) walk(k);
  };
  for (const r of roots) {
    const s = byPid.get(r);
    if (s) walk(s);
  }
  let totalMs = 0;
  for (const p of procs.values()) totalMs += p.ms;
  return { at: Date.now(), procs, totalMs };
}

/** CPU-ms per label between two snapshots of the same tree (a process gone by `b` counts through its parent). */
export function byLabel(a: TreeSnapshot, b: TreeSnapshot, label: (p: ProcCpu) => string): Map<string, number> {
  const out = new Map<string, number>();
  const add = (k: string, ms: number) => out.set(k, (out.get(k) ?? 0) + ms);
  for (const p of b.procs.values()) add(label(p), p.ms - (a.procs.get(p.pid)?.ms ?? 0));
  for (const p of a.procs.values()) if (!b.procs.has(p.pid)) add(label(p), -p.ms);
  return out;
}

/** Socket inodes a process holds. */
function socketInodes(pid: number): Set<string> {
  const out = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) out.add(m[1]!);
      } catch { /* closed meanwhile */ }
    }
  } catch { /* exited */ }
  return out;
}

interface TcpRow { local: number; remote: number; state: string; inode: string }

function tcpRows(): TcpRow[] {
  const rows: TcpRow[] = [];
  for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try { text = readFileSync(f, "utf8"); } catch { continue; }
    for (const line of text.split("\n").slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length < 10) continue;
      rows.push({ local: parseInt(c[1]!.split(":")[1]!, 16), remote: parseInt(c[2]!.split(":")[1]!, 16), state: c[3]!, inode: c[9]! });
    }
  }
  return rows;
}

/** Pids (among `pids`) holding a listening socket on `port`. */
export function listeners(pids: number[], port: number): Set<number> {
  const inodes = new Set(tcpRows().filter((r) => r.state === "0A" && r.local === port).map((r) => r.inode));
  return new Set(pids.filter((p) => [...socketInodes(p)].some((i) => inodes.has(i))));
}

/**
 * For each PostgreSQL backend pid (connected over TCP to `pgPort`), the client pid among
 * `clients` at the other end, matched through /proc/net/tcp: backend socket (local pgPort,
 * remote X) ↔ client socket (local X).
 */
export function backendClients(backends: number[], pgPort: number, clients: number[]): Map<number, number> {
  const rows = tcpRows();
  const byInode = new Map(rows.map((r) => [r.inode, r]));
  const portOwner = new Map<number, number>();
  for (const c of clients) {
    for (const i of socketInodes(c)) {
      const r = byInode.get(i);
      if (r && r.remote === pgPort) portOwner.set(r.local, c);
    }
  }
  const out = new Map<number, number>();
  for (const b of backends) {
    for (const i of socketInodes(b)) {
      const r = byInode.get(i);
      if (r && r.local === pgPort && r.state === "01") {
        const owner = portOwner.get(r.remote);
        if (owner !== undefined) out.set(b, owner);
      }
    }
  }
  return out;
}

/** CPU so far (utime + stime) of each thread of a process, by thread id, with the thread's name (the main thread, whose id is the pid, named so). */
export function threads(pid: number): Map<number, { comm: string; ms: number }> {
  const out = new Map<number, { comm: string; ms: number }>();
  let tids: string[] = [];
  try { tids = readdirSync(`/proc/${pid}/task`); } catch { return out; }
  for (const t of tids) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
      const close = s.lastIndexOf(")");
      const f = s.slice(close + 2).split(" ");
      out.set(Number(t), { comm: Number(t) === pid ? "main thread" : s.slice(s.indexOf("(") + 1, close), ms: (Number(f[11]) + Number(f[12])) * (1000 / HZ) });
    } catch { /* thread gone */ }
  }
  return out;
}

/** CPU-ms per thread name between two thread snapshots of one process (threads alive at the end). */
export function threadDelta(a: Map<number, { comm: string; ms: number }>, b: Map<number, { comm: string; ms: number }>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [tid, t] of b) out.set(t.comm, (out.get(t.comm) ?? 0) + t.ms - (a.get(tid)?.ms ?? 0));
  return out;
}
