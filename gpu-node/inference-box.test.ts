/**
 * InferenceBox under Pulumi's runtime mocks: placement invariants (no external IP, traffic only
 * from the platform's ranges on the servers' ports, its own service account reading only its own
 * bucket), the rendered servers against the flag table and the models table, the boot
 * configuration against cloud-init's schema, and the weights script run against a fake metadata
 * server and bucket.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { machineInfo } from "../catalog/machines.js";
import { tiers } from "../catalog/tiers.js";
import { checkedTypes, schemaProblems } from "../test/provider-schema.js";
import { hostModelsDir, renderBoxCloudInit, renderWeightsScript, type BoxBootSpec } from "./box-boot.js";
import { defaultBoxServers, InferenceBox, isPrivateRange, type InferenceBoxArgs } from "./inference-box.js";
import { artifactFor } from "./models.js";
import { flagTables } from "./server-spec.js";
import { only, ofType, settle, underMocks, type RecordedResource } from "./testing/mocks.js";

const podRange = "10.20.0.0/14";
const nodeRange = "10.10.0.0/24";

function args(over: Partial<InferenceBoxArgs> = {}): InferenceBoxArgs {
  const machine = machineInfo(tiers["tier-50"].defaultMachineType);
  if (!machine?.gpu) throw new Error("tier-50's default machine type carries no GPU");
  return {
    project: "tierstack-test",
    stack: "tier-50",
    region: "us-central1",
    zone: "us-central1-a",
    machineType: machine.name,
    gpu: { model: machine.gpu.model, count: machine.gpu.count },
    bootDiskGb: 50,
    network: "projects/tierstack-test/global/networks/tier-50-vpc",
    subnetwork: "projects/tierstack-test/regions/us-central1/subnetworks/tier-50-subnet",
    sourceRanges: [podRange, nodeRange],
    ...over,
  };
}

interface CloudConfig {
  write_files: { path: string; content: string; permissions: string }[];
  runcmd: string[][];
}

let resources: RecordedResource[];
let box: InferenceBox;
let userData: string;

beforeAll(async () => {
  const run = await underMocks("tier-50", () => new InferenceBox("tier-50-gpu", args()));
  resources = run.resources;
  box = run.result;
  userData = await settle(box.userData);
});

const files = (text: string) => new Map((parse(text) as CloudConfig).write_files.map((f) => [f.path, f.content]));

describe("InferenceBox: what it declares", () => {
  it("is one component with a VM, a bucket, its reader binding, one firewall rule and its own service account", () => {
    expect(only(resources, "tierstack:inference:InferenceBox").name).toBe("tier-50-gpu");
    expect(ofType(resources, ":Instance")).toHaveLength(1);
    expect(ofType(resources, "storage/bucket:Bucket")).toHaveLength(1);
    expect(ofType(resources, ":BucketIAMMember")).toHaveLength(1);
    expect(ofType(resources, ":Firewall")).toHaveLength(1);
    expect(only(resources, "serviceaccount/account:Account").inputs.accountId).toBe("ts-tier-50-gpu");
  });

  it("every resource type is checked against @pulumi/gcp's declarations, and every input key path is declared", () => {
    const custom = [...new Set(resources.map((r) => r.type).filter((t) => !t.startsWith("tierstack:")))].sort();
    expect(checkedTypes(resources)).toEqual(custom);
    expect(custom).toEqual(expect.arrayContaining(["gcp:storage/bucket:Bucket", "gcp:storage/bucketIAMMember:BucketIAMMember", "gcp:compute/firewall:Firewall", "gcp:compute/instance:Instance"]));
    expect(schemaProblems(resources)).toEqual([]);
  });

  it("the VM: two L4s on g2-standard-24, stops on host maintenance, no external IP, shielded, its own account", async () => {
    const vm = only(resources, ":Instance").inputs;
    expect(vm.machineType).toBe("g2-standard-24");
    expect(machineInfo(String(vm.machineType))?.gpu).toEqual({ model: "nvidia-l4", count: 2 });
    expect(vm.scheduling).toEqual({ onHostMaintenance: "TERMINATE", automaticRestart: true });
    const nics = vm.networkInterfaces as Record<string, unknown>[];
    expect(nics).toHaveLength(1);
    expect(nics[0]?.accessConfigs ?? []).toEqual([]);
    expect(nics[0]?.ipv6AccessConfigs ?? []).toEqual([]);
    expect(vm.shieldedInstanceConfig).toEqual({ enableSecureBoot: true, enableVtpm: true, enableIntegrityMonitoring: true });
    expect((vm.serviceAccount as { email: string }).email).toBe(await settle(box.serviceAccount.email));
    expect(vm.tags).toEqual([box.networkTag]);
    // G2 carries its L4s: no guestAccelerators.
    expect(vm.guestAccelerators ?? []).toEqual([]);
  });

  it("accepts traffic only from the cluster's pod and node ranges, only on the servers' ports", () => {
    const fw = only(resources, ":Firewall").inputs;
    expect(fw.direction).toBe("INGRESS");
    expect(fw.sourceRanges).toEqual([podRange, nodeRange]);
    expect(fw.allows).toEqual([{ protocol: "tcp", ports: ["8080", "8081"] }]);
    expect(fw.denies ?? []).toEqual([]);
    expect(fw.sourceTags ?? []).toEqual([]);
    expect(fw.targetTags).toEqual([box.networkTag]);
    for (const r of fw.sourceRanges as string[]) expect(isPrivateRange(r), r).toBe(true);
  });

  it("the weights bucket: uniform access, public access prevented; the box's account may only read it", async () => {
    const bucket = only(resources, "storage/bucket:Bucket").inputs;
    expect(bucket).toMatchObject({ uniformBucketLevelAccess: true, publicAccessPrevention: "enforced", location: "US-CENTRAL1", forceDestroy: false });
    const binding = only(resources, ":BucketIAMMember").inputs;
    expect(binding.role).toBe("roles/storage.objectViewer");
    expect(binding.bucket).toBe(await settle(box.bucketName));
    expect(binding.member).toBe(await settle(box.serviceAccount.member));
    // No other grant on the bucket, and nothing project-wide about storage.
    const storageRoles = resources.flatMap((r) => (typeof r.inputs.role === "string" && r.inputs.role.includes("storage") ? [r.inputs.role] : []));
    expect(storageRoles).toEqual(["roles/storage.objectViewer"]);
  });

  it("sizes the disk for the OS plus the weights (+25%)", () => {
    const bytes = box.endpoints.reduce((s, e) => s + (artifactFor("llama-server", e.modelKey).file?.bytes ?? NaN), 0);
    expect(bytes).toBe(4_920_739_232 + 19_762_149_024);
    expect(box.diskGb).toBe(50 + Math.ceil((bytes * 1.25) / 1e9)); // 50 + 31
    expect((only(resources, ":Instance").inputs.bootDisk as { initializeParams: { size: number } }).initializeParams.size).toBe(box.diskGb);
  });

  it("serves each model on its own port at the VM's address, for LiteLLM", async () => {
    expect(await settle(box.served)).toEqual([
      { modelKey: "llama-3.1-8b-instruct", apiBase: "http://10.10.0.5:8080/v1" },
      { modelKey: "qwen3-32b", apiBase: "http://10.10.0.5:8081/v1" },
    ]);
    expect(box.endpoints.map((e) => [e.litellmName, e.gpuIndex, e.health.path])).toEqual([
      ["local/llama-3.1-8b-instruct", 0, "/health"],
      ["local/qwen3-32b", 1, "/health"],
    ]);
    expect(box.warnings.every((w) => w.includes("pinned by tag only"))).toBe(true);
  });
});

describe("InferenceBox: the boot configuration", () => {
  it("user-data is the rendered #cloud-config with the bucket's name in the weights script", async () => {
    expect((only(resources, ":Instance").inputs.metadata as Record<string, string>)["user-data"]).toBe(userData);
    expect(userData.startsWith("#cloud-config\n")).toBe(true);
    expect(files(userData).get("/usr/local/sbin/tierstack-fetch-weights")).toContain(`bucket=${await settle(box.bucketName)}`);
  });

  it("one server per GPU: CUDA_VISIBLE_DEVICES, -m on the verified local copy, flags from the table", () => {
    const written = files(userData);
    const table = new Map(flagTables["llama-server"].flags.flatMap((f) => f.names.map((n) => [n, f] as const)));
    for (const [i, key] of [[0, "llama-3.1-8b-instruct"], [1, "qwen3-32b"]] as const) {
      const env = written.get(`/etc/tierstack/inference-gpu${i}.env`);
      expect(env).toBe(`CUDA_VISIBLE_DEVICES=${i}\n`);
      const unit = written.get(`/etc/systemd/system/inference-gpu${i}.service`.replace("/inference", "/tierstack-inference")) ?? "";
      const file = artifactFor("llama-server", key).file;
      expect(unit).toContain(`-m /models/${key}/${file?.name}`);
      expect(unit).toContain(`-a ${key}`);
      expect(unit).not.toContain("-hf ");
      expect(unit).toMatch(/^Requires=docker\.service tierstack-weights\.service$/m);
      expect(unit).toMatch(/^After=.*tierstack-gpu-driver\.service tierstack-weights\.service$/m);
      expect(unit).toMatch(/^Restart=always$/m);
      expect(unit).toContain(`-v ${hostModelsDir}:/models:ro`);
      expect(unit).toMatch(new RegExp(`^ExecStartPost=/usr/local/sbin/tierstack-wait-healthy http://127\\.0\\.0\\.1:808${i}/health 200$`, "m"));
      // Every dash word after the image is an option of the table at the pinned tag.
      const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1]?.split(" ") ?? [];
      const argv = exec.slice(exec.findIndex((w) => w.startsWith("ghcr.io/ggml-org/llama.cpp:server-cuda-b5517")) + 1);
      for (let j = 0; j < argv.length; j++) {
        const f = table.get(argv[j] ?? "");
        expect(f, argv[j]).toBeDefined();
        if (f?.takesValue) j++;
      }
    }
    // the 32B: 2 slots × 3,072 tokens of context
    expect(written.get("/etc/systemd/system/tierstack-inference-gpu1.service")).toContain("-c 6144 --parallel 2");
  });

  it("installs the driver at boot and enables the weights unit and every server", () => {
    const written = files(userData);
    expect(written.get("/usr/local/sbin/tierstack-install-gpu-driver")).toContain("ubuntu-drivers install --gpgpu");
    const enable = (parse(userData) as CloudConfig).runcmd.find((c) => c.includes("--no-block"));
    expect(enable).toEqual(["systemctl", "enable", "--now", "--no-block", "tierstack-gpu-driver.service", "tierstack-weights.service", "tierstack-inference-gpu0.service", "tierstack-inference-gpu1.service"]);
  });

  it("lists each file's sha256 from the models table", () => {
    const script = files(userData).get("/usr/local/sbin/tierstack-fetch-weights") ?? "";
    for (const key of ["llama-3.1-8b-instruct", "qwen3-32b"]) {
      const file = artifactFor("llama-server", key).file;
      expect(file?.sha256).toMatch(/^[a-f0-9]{64}$/);
      expect(script).toContain(`fetch_one ${key}/${file?.name} ${key}/${file?.name} ${file?.sha256}`);
    }
  });

  const haveValidator = spawnSync("cloud-init", ["--version"]).error === undefined;
  if (!haveValidator && process.env.CI === "true") throw new Error("cloud-init is not installed (.ci/apt-packages): the box's boot configuration cannot be validated");

  it.skipIf(!haveValidator)("passes `cloud-init schema`", () => {
    const dir = mkdtempSync(join(tmpdir(), "tierstack-box-cloud-init-"));
    const file = join(dir, "user-data.yaml");
    writeFileSync(file, userData);
    const res = spawnSync("cloud-init", ["schema", "--config-file", file], { encoding: "utf8" });
    expect(res.status, `${res.stdout}${res.stderr}`).toBe(0);
    expect(res.stdout).toContain("Valid cloud-config");
  });
});

describe("InferenceBox refuses what would not work or not be private", () => {
  const build = (over: Partial<InferenceBoxArgs>) => underMocks("tier-50", () => new InferenceBox("bad", args(over)));

  it("a public or missing source range", async () => {
    await expect(build({ sourceRanges: ["0.0.0.0/0"] })).rejects.toThrow(/source range 0\.0\.0\.0\/0 is not a private IPv4 range/);
    await expect(build({ sourceRanges: ["35.235.240.0/20"] })).rejects.toThrow(/not a private/);
    await expect(build({ sourceRanges: [] })).rejects.toThrow(/sourceRanges is empty/);
    expect(isPrivateRange("10.20.0.0/14")).toBe(true);
    expect(isPrivateRange("172.32.0.0/16")).toBe(false);
    expect(isPrivateRange("10.0.0.0/7")).toBe(false);
  });

  it("more servers than GPUs, a GPU index the machine lacks, or a server that does not fit its GPU", async () => {
    await expect(build({ machineType: "g2-standard-8", gpu: { model: "nvidia-l4", count: 1 } })).rejects.toThrow(/2 servers need 2 GPUs; g2-standard-8 carries 1/);
    const [small, large] = defaultBoxServers();
    if (!small || !large) throw new Error("tier-50 plan has two servers");
    await expect(build({ servers: [small, { ...large, gpuIndex: 2 }] })).rejects.toThrow(/gpuIndex 2 but g2-standard-24 has GPUs 0-1/);
    // 32B at 2 × 4,096 tokens: 19.8 + 2.15 + 1 = 22.95 GB > 22.8 GB
    await expect(build({ servers: [small, { ...large, contextLength: 4096 }] })).rejects.toThrow(/qwen3-32b needs 22\.95 GB on one nvidia-l4, the budget is 22\.80 GB/);
    await expect(build({ servers: [{ ...small, server: "vllm" }] })).rejects.toThrow(/runs llama-server/);
  });

  it("two servers on one GPU or one port", () => {
    const spec = (gpu: string, port: number): BoxBootSpec["servers"][number] => ({
      name: `s${gpu}${port}`, description: "x",
      rendered: { image: "i", args: [], env: { CUDA_VISIBLE_DEVICES: gpu }, port, health: { path: "/health", readyStatus: 200, notReadyStatuses: [], source: "" }, warnings: [] },
      weights: { object: "o", path: "p", sha256: "a".repeat(64), bytes: 1 },
    });
    expect(() => renderBoxCloudInit({ bucket: "b", servers: [spec("0", 1), spec("0", 2)] })).toThrow(/share the GPU/);
    expect(() => renderBoxCloudInit({ bucket: "b", servers: [spec("0", 1), spec("1", 1)] })).toThrow(/share the port 1/);
  });
});

describe("the weights script (run against a fake metadata server and bucket)", () => {
  const content = { a: "weights of model a\n", b: "weights of model b, larger\n" };
  const sha = (s: string) => createHash("sha256").update(s).digest("hex");

  function setup(bucketFiles: Record<string, string>, listed: Record<"a" | "b", string>) {
    const dir = mkdtempSync(join(tmpdir(), "tierstack-weights-"));
    const bin = join(dir, "bin");
    const store = join(dir, "bucket");
    const models = join(dir, "models");
    mkdirSync(bin);
    mkdirSync(store);
    for (const [object, text] of Object.entries(bucketFiles)) {
      mkdirSync(join(store, object, ".."), { recursive: true });
      writeFileSync(join(store, object), text);
    }
    // Fake curl: the metadata token, or a bucket object by its URL-encoded name (-o <file>); 22 when absent.
    writeFileSync(join(bin, "curl"), [
      "#!/bin/bash",
      'out=""; url="${@: -1}"',
      'while [ $# -gt 0 ]; do [ "$1" = "-o" ] && out=$2; shift; done',
      'case "$url" in',
      "  */service-accounts/default/token) echo '{\"access_token\":\"t\"}' ;;",
      "  https://storage.googleapis.com/storage/v1/b/weights-bkt/o/*'?alt=media')",
      '    enc="${url#*/o/}"; enc="${enc%%\\?alt=media}"; object=$(printf "%b" "${enc//%/\\\\x}")',
      `    [ -f "${store}/$object" ] || exit 22`,
      `    cp "${store}/$object" "$out" ;;`,
      "  *) exit 22 ;;",
      "esac",
      "",
    ].join("\n"), { mode: 0o755 });
    const spec: BoxBootSpec = {
      bucket: "weights-bkt",
      servers: (["a", "b"] as const).map((k, i) => ({
        name: `inference-gpu${i}`, description: k,
        rendered: { image: "i", args: [], env: { CUDA_VISIBLE_DEVICES: String(i) }, port: 8080 + i, health: { path: "/health", readyStatus: 200, notReadyStatuses: [], source: "" }, warnings: [] },
        weights: { object: `model-${k}/w ${k}.gguf`, path: `model-${k}/w ${k}.gguf`, sha256: listed[k], bytes: content[k].length },
      })),
    };
    const script = renderWeightsScript(spec).replaceAll(hostModelsDir, models);
    const run = () => spawnSync("bash", ["-c", script, "fetch-weights", "--once"], { encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` } });
    return { run, models };
  }

  it("copies every file whose sha256 matches the table, and keeps it on the next boot", () => {
    const { run, models } = setup({ "model-a/w a.gguf": content.a, "model-b/w b.gguf": content.b }, { a: sha(content.a), b: sha(content.b) });
    const first = run();
    expect(first.status, first.stderr).toBe(0);
    expect(readFileSync(join(models, "model-a/w a.gguf"), "utf8")).toBe(content.a);
    expect(readFileSync(join(models, "model-b/w b.gguf"), "utf8")).toBe(content.b);
    expect(first.stdout).toContain("model-a/w a.gguf: copied, sha256 ok");
    const again = run();
    expect(again.status).toBe(0);
    expect(again.stdout).toContain("model-b/w b.gguf: present, sha256 ok");
  });

  it("refuses a file whose sha256 is not the listed one, and leaves nothing behind", () => {
    const { run, models } = setup({ "model-a/w a.gguf": content.a, "model-b/w b.gguf": "tampered\n" }, { a: sha(content.a), b: sha(content.b) });
    const res = run();
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain(`model-b/w b.gguf: sha256 ${sha("tampered\n")} is not the listed ${sha(content.b)}; not starting its server`);
    expect(existsSync(join(models, "model-b/w b.gguf"))).toBe(false);
    expect(existsSync(join(models, "model-b/w b.gguf.part"))).toBe(false);
    expect(existsSync(join(models, "model-a/w a.gguf"))).toBe(true);
  });

  it("says which object is not uploaded yet", () => {
    const { run } = setup({ "model-a/w a.gguf": content.a }, { a: sha(content.a), b: sha(content.b) });
    const res = run();
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain("model-b/w b.gguf: not in gs://weights-bkt yet");
  });
});
