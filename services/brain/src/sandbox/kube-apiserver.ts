/**
 * Test support: an in-test Kubernetes API server (node:http) for SandboxClaims, and the
 * agent-sandbox controller's part. Every object written (a claim the client creates, and the
 * status this "controller" sets) is checked with @tierstack/agent-sandbox's validate(): a
 * failing one is refused with a 422 Status, as the real API server refuses an object its CRD
 * schema rejects. A claim on a known warm pool is bound to a fresh "pod" — the learner runtime
 * as a plain process on its own loopback address (127.x.y.z, the pod IP) with an empty
 * directory, like a fresh warm pod — and marked Ready; deleting the claim kills the pod.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { KubeConfig } from "@kubernetes/client-node";
import { formatErrors, validate } from "@tierstack/agent-sandbox";
import { freePort } from "@tierstack/common/testing";
import { learnerDir } from "./gvisor.js";
import { claimGroup, claimPlural, claimVersion } from "./kubernetes.js";

type Obj = { apiVersion: string; kind: string; metadata: Record<string, unknown> & { name: string; labels?: Record<string, string> }; spec: Record<string, unknown>; status?: Record<string, unknown> };
type Pod = { child: ChildProcess; dir: string; ip: string; sandbox: string };

export interface KubeApiServer {
  url: string;
  namespace: string;
  /** The learner runtime's port in every pod. */
  port: number;
  kubeConfig(): KubeConfig;
  /** Every request: method, path, the status answered. */
  requests: { method: string; path: string; status: number }[];
  /** Claims that exist (not being deleted), with the sandbox each is bound to. */
  claims(): { name: string; sandbox?: string; spec: Record<string, unknown> }[];
  /** Kill the pod bound to a claim, as a crashed sandbox; the claim goes NotReady. */
  killPod(claim: string): void;
  close(): Promise<void>;
}

const status = (code: number, reason: string, message: string, details?: unknown) => ({ kind: "Status", apiVersion: "v1", metadata: {}, status: code < 300 ? "Success" : "Failure", message, reason, code, ...(details ? { details } : {}) });

export async function startKubeApiServer(opts: { namespace?: string; warmPools?: string[] } = {}): Promise<KubeApiServer> {
  const namespace = opts.namespace ?? "learners";
  const pools = new Set(opts.warmPools ?? ["learner"]);
  const port = await freePort();
  const claims = new Map<string, Obj>();
  const pods = new Map<string, Pod>();
  const requests: KubeApiServer["requests"] = [];
  const net = 1 + Math.floor(Math.random() * 250);
  let nextIp = 1;
  let rv = 1;
  const base = `/apis/${claimGroup}/${claimVersion}/namespaces/${namespace}/${claimPlural}`;

  const send = (res: ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };

  /** The controller: a fresh pod for the claim, then status Ready with the sandbox and its pod IP. */
  async function bind(name: string): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), "fake-pod-"));
    const ip = `127.${net}.${Math.floor(nextIp / 250)}.${(nextIp++ % 250) + 1}`;
    const sandbox = `learner-${randomUUID().slice(0, 5)}`;
    const child = spawn(process.execPath, [join(learnerDir, "runtime.mjs"), "--listen", `${ip}:${port}`], { env: { ...process.env, LEARNER_DIR: dir }, stdio: ["ignore", "pipe", "inherit"] });
    const pod: Pod = { child, dir, ip, sandbox };
    pods.set(name, pod);
    await new Promise<void>((resolve) => {
      createInterface({ input: child.stdout! }).once("line", () => resolve());
      child.once("exit", () => resolve());
    });
    const claim = claims.get(name);
    if (!claim || pods.get(name) !== pod || child.exitCode !== null) return;
    setStatus(claim, { conditions: [condition("Ready", "True", "SandboxReady")], sandbox: { name: sandbox, podIPs: [ip] } });
  }

  function setStatus(claim: Obj, st: Record<string, unknown>): void {
    const next = { ...claim, status: st, metadata: { ...claim.metadata, resourceVersion: String(++rv) } };
    const v = validate(next);
    if (!v.valid) throw new Error(`the fake controller wrote an invalid status: ${formatErrors(v.errors).join("; ")}`);
    claims.set(claim.metadata.name, next);
  }

  function killPod(name: string): void {
    const pod = pods.get(name);
    pods.delete(name);
    if (!pod) return;
    pod.child.kill("SIGKILL");
    rmSync(pod.dir, { recursive: true, force: true });
    const claim = claims.get(name);
    if (claim) setStatus(claim, { conditions: [condition("Ready", "False", "PodNotReady")], sandbox: { name: pod.sandbox } });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<number> {
    const url = new URL(req.url ?? "/", "http://x");
    const raw = await new Promise<string>((resolve) => {
      let b = "";
      req.on("data", (d: Buffer) => (b += d.toString("utf8")));
      req.on("end", () => resolve(b));
    });
    const reply = (code: number, body: unknown) => (send(res, code, body), code);
    if (!url.pathname.startsWith(base)) return reply(404, status(404, "NotFound", `the server could not find the requested resource (${url.pathname})`));
    const name = decodeURIComponent(url.pathname.slice(base.length).replace(/^\//, ""));
    if (req.method === "POST" && !name) {
      let obj: Obj;
      try {
        obj = JSON.parse(raw) as Obj;
      } catch {
        return reply(400, status(400, "BadRequest", "body is not JSON"));
      }
      const v = validate(obj);
      if (!v.valid) {
        const causes = v.errors.map((e) => ({ reason: "FieldValueInvalid", message: e.message, field: e.path.replace(/^\//, "").replace(/\//g, ".") }));
        return reply(422, status(422, "Invalid", `SandboxClaim.${claimGroup} "${String(obj?.metadata?.name ?? "")}" is invalid: ${formatErrors(v.errors).join("; ")}`, { name: obj?.metadata?.name, group: claimGroup, kind: "sandboxclaims", causes }));
      }
      if (obj.kind !== "SandboxClaim") return reply(400, status(400, "BadRequest", `kind ${obj.kind} does not belong at ${base}`));
      if (obj.metadata.namespace !== undefined && obj.metadata.namespace !== namespace) return reply(400, status(400, "BadRequest", "the namespace of the object does not match the namespace of the request"));
      if (claims.has(obj.metadata.name)) return reply(409, status(409, "AlreadyExists", `sandboxclaims.${claimGroup} "${obj.metadata.name}" already exists`));
      const stored: Obj = { ...obj, metadata: { ...obj.metadata, namespace, uid: randomUUID(), resourceVersion: String(++rv), creationTimestamp: new Date().toISOString() } };
      claims.set(obj.metadata.name, stored);
      if (pools.has((obj.spec.warmPoolRef as { name: string }).name)) void bind(obj.metadata.name);
      return reply(201, stored);
    }
    if (req.method === "GET" && !name) {
      const sel = url.searchParams.get("labelSelector");
      const items = [...claims.values()].filter((c) => !sel || c.metadata.labels?.[sel] !== undefined);
      return reply(200, { apiVersion: `${claimGroup}/${claimVersion}`, kind: "SandboxClaimList", metadata: { resourceVersion: String(rv) }, items });
    }
    const claim = claims.get(name);
    if (!claim) return reply(404, status(404, "NotFound", `sandboxclaims.${claimGroup} "${name}" not found`, { name, group: claimGroup, kind: "sandboxclaims" }));
    if (req.method === "GET") return reply(200, claim);
    if (req.method === "DELETE") {
      killPod(name);
      claims.delete(name);
      return reply(200, status(200, "", "", { name, group: claimGroup, kind: "sandboxclaims", uid: claim.metadata.uid }));
    }
    return reply(405, status(405, "MethodNotAllowed", `${req.method} is not supported here`));
  }

  const server = createServer((req, res) => {
    handle(req, res).then(
      (code) => requests.push({ method: req.method ?? "", path: (req.url ?? "").split("?")[0]!, status: code }),
      (err: unknown) => send(res, 500, status(500, "InternalError", String(err))),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  return {
    url,
    namespace,
    port,
    requests,
    kubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: "test", server: url, skipTLSVerify: true }],
        users: [{ name: "brain", token: "test-token" }],
        contexts: [{ name: "test", cluster: "test", user: "brain", namespace }],
        currentContext: "test",
      });
      return kc;
    },
    claims: () => [...claims.values()].map((c) => ({ name: c.metadata.name, sandbox: (c.status?.sandbox as { name?: string } | undefined)?.name, spec: c.spec })),
    killPod,
    async close() {
      for (const name of [...pods.keys()]) killPod(name);
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

function condition(type: string, st: "True" | "False", reason: string) {
  return { type, status: st, reason, message: reason, lastTransitionTime: new Date().toISOString(), observedGeneration: 1 };
}
