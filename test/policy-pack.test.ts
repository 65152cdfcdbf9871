/**
 * The real policy pack, as the Pulumi CLI runs it: `pulumi-analyzer-policy` runs
 * @pulumi/pulumi's run-policy-pack with the engine's address and the pack's directory ("."),
 * from that directory, with the stack's config in PULUMI_CONFIG; the pack (ts-node compiling
 * policy/index.ts) starts the analyzer's gRPC server and prints its port on stdout. This test
 * starts it that way, sends it tier-50's recorded resources over the Analyzer protocol (the
 * definitions that ship in @pulumi/pulumi/proto): Analyze for each resource, AnalyzeStack for the
 * stack, and expects exactly the violations `plan` reports, on the reference stack and on a
 * fixture with mandatory violations.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadStackConfig, repoRoot, runPlan, type PlanRun } from "../cli/plan.js";
import { fromRecorded, type RecordedResource } from "../policy/resource.js";
import { evaluate, rules } from "../policy/rules/index.js";

// The gRPC runtime and message classes the SDK's own generated stubs use (one copy of each).
const sdk = createRequire(join(repoRoot, "node_modules", "@pulumi", "pulumi", "package.json"));
const grpc = sdk("@grpc/grpc-js") as typeof import("@grpc/grpc-js");
const rpc = sdk("./proto/analyzer_grpc_pb.js") as typeof import("@pulumi/pulumi/proto/analyzer_grpc_pb.js");
const pb = sdk("./proto/analyzer_pb.js") as typeof import("@pulumi/pulumi/proto/analyzer_pb.js");
type Pb = typeof pb;
const { Struct } = sdk("google-protobuf/google/protobuf/struct_pb.js") as { Struct: { fromJavaScript(v: Record<string, unknown>): InstanceType<typeof import("google-protobuf/google/protobuf/struct_pb.js").Struct> } };
const { Empty } = sdk("google-protobuf/google/protobuf/empty_pb.js") as typeof import("google-protobuf/google/protobuf/empty_pb.js");

const stack = "tier-50";
let run: PlanRun;
let pack: ChildProcess;
let client: InstanceType<typeof rpc.AnalyzerClient>;
let stderr = "";

/** A unary call as a promise. */
function unary<Req, Res>(fn: (req: Req, cb: (err: Error | null, res: Res) => void) => unknown, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => fn.call(client, req, (err, res) => (err ? reject(err) : resolve(res))));
}

beforeAll(async () => {
  run = await runPlan(stack);
  const config = loadStackConfig(stack).config;
  const runPolicyPack = sdk.resolve("./cmd/run-policy-pack");
  pack = spawn(process.execPath, [runPolicyPack, "127.0.0.1:0", "."], {
    cwd: join(repoRoot, "policy"),
    env: { ...process.env, PULUMI_CONFIG: JSON.stringify(config), PULUMI_NODEJS_STACK: stack, PULUMI_NODEJS_PROJECT: "tierstack", PULUMI_NODEJS_DRY_RUN: "true" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  pack.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<string>((resolve, reject) => {
    let out = "";
    pack.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const line = /^(\d+)\n/.exec(out);
      if (line?.[1]) resolve(line[1]);
    });
    pack.on("exit", (code) => reject(new Error(`the policy pack exited (${code}) before printing its port: ${stderr}`)));
  });
  client = new rpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, 120_000);

afterAll(() => {
  client?.close();
  pack?.kill();
});

/** Properties as the engine marshals them: JSON values, secrets as the SDK's secret signature objects. */
const properties = (inputs: Record<string, unknown>) => Struct.fromJavaScript(JSON.parse(JSON.stringify(inputs)));

function options(r: RecordedResource) {
  const o = new pb.AnalyzerResourceOptions();
  o.setProtect(r.protect);
  if (r.parent) o.setParent(r.parent);
  return o;
}

interface Diagnostic {
  policy: string;
  level: string;
  urn: string;
  message: string;
}

const levelName = (n: number) => Object.entries(pb.EnforcementLevel).find(([, v]) => v === n)?.[0]?.toLowerCase() ?? String(n);

function diagnostics(res: InstanceType<Pb["AnalyzeResponse"]>): Diagnostic[] {
  return res.getDiagnosticsList().map((d) => ({ policy: d.getPolicyname(), level: levelName(d.getEnforcementlevel()), urn: d.getUrn(), message: d.getMessage() }));
}

/** What the engine does over a stack: Analyze each resource, then AnalyzeStack once. */
async function analyze(resources: readonly RecordedResource[]): Promise<Diagnostic[]> {
  const out: Diagnostic[] = [];
  for (const r of resources) {
    const req = new pb.AnalyzeRequest();
    req.setType(r.type);
    req.setName(r.name);
    req.setUrn(r.urn);
    req.setProperties(properties(r.inputs));
    req.setOptions(options(r));
    out.push(...diagnostics(await unary(client.analyze, req)));
  }
  const stackReq = new pb.AnalyzeStackRequest();
  stackReq.setResourcesList(resources.map((r) => {
    const a = new pb.AnalyzerResource();
    a.setType(r.type);
    a.setName(r.name);
    a.setUrn(r.urn);
    a.setProperties(properties(r.inputs));
    a.setOptions(options(r));
    if (r.parent) a.setParent(r.parent);
    return a;
  }));
  out.push(...diagnostics(await unary(client.analyzeStack, stackReq)));
  return out;
}

/** The same violations as plan computes them, in the pack's diagnostic form (description, newline, message). */
function planned(resources: readonly RecordedResource[]): Diagnostic[] {
  return evaluate(resources.map(fromRecorded), { stack, config: run.config }).map((v) => ({
    policy: v.policy,
    level: v.enforcementLevel,
    urn: v.urn ?? "",
    message: `${rules.find((r) => r.name === v.policy)?.description ?? ""}\n${v.message}`,
  }));
}

const sorted = (ds: Diagnostic[]) => [...ds].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

describe("the policy pack over the analyzer protocol", () => {
  it("serves every rule of policy/rules with its enforcement level", async () => {
    const info = await unary<InstanceType<typeof Empty>, InstanceType<Pb["AnalyzerInfo"]>>(client.getAnalyzerInfo, new Empty());
    expect(info.getName()).toBe("tierstack-guards");
    const served = info.getPoliciesList().map((p) => [p.getName(), levelName(p.getEnforcementlevel())]);
    expect(served.sort()).toEqual(rules.map((r) => [r.name, r.enforcementLevel]).sort());
  });

  it("reports exactly plan's violations for the reference stack", async () => {
    const got = await analyze(run.recorded);
    expect(sorted(got)).toEqual(sorted(planned(run.recorded)));
    expect(got.some((d) => d.policy === "gpu-capacity" && d.level === "advisory")).toBe(true);
  });

  it("and for a fixture breaking mandatory rules (SSH open to the internet, Redis without AUTH)", async () => {
    const fixture = run.recorded.map((r) => {
      if (r.name === "tier-50-net-ssh-from-iap") return { ...r, inputs: { ...r.inputs, sourceRanges: ["0.0.0.0/0"] } };
      if (r.name === "tier-50-redis-instance") return { ...r, inputs: { ...r.inputs, authEnabled: false } };
      return r;
    });
    const got = await analyze(fixture);
    const mandatory = got.filter((d) => d.level === "mandatory").map((d) => [d.policy, d.urn.split("::").pop(), d.message.split("\n").pop()]);
    expect(mandatory.sort()).toEqual([
      ["no-open-ssh-or-database-ingress", "tier-50-net-ssh-from-iap", "ingress from 0.0.0.0/0 to 22 (SSH)"],
      ["redis-auth-and-tls", "tier-50-redis-instance", "AUTH is off: set authEnabled = true"],
    ]);
    expect(sorted(got)).toEqual(sorted(planned(fixture)));
  });
});
