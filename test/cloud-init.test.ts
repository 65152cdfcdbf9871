/**
 * The rendered boot configuration: passes Debian's cloud-init schema checker (the real
 * validator, run as a child process), runs every catalogue service as a unit with a restart
 * policy, and wires every environment key of the catalogue (secrets only through Secret Manager).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadStackConfig } from "../cli/plan.js";
import { renderCloudInit, renderFetchSecrets, unitFileName } from "../stacks/single-box/cloud-init.js";
import { parseStackConfig, type StackConfig } from "../config/config.js";
import { services, serviceNames } from "../catalog/services.js";
import { plans } from "../services/brain/src/plans.js";
import { render } from "../gpu-node/server-spec.js";
import { serviceSecretBindings } from "../catalog/service-env.js";
import { llamaServerSpec, singleBoxBoot } from "../stacks/single-box/units.js";

function config(overrides: Record<string, string> = {}): StackConfig {
  return parseStackConfig(loadStackConfig("single-box", { overrides }).config, "single-box");
}

const gpuOverrides = { "tierstack:machineType": "g2-standard-4", "tierstack:gpus": "1" };

interface CloudConfig {
  write_files: { path: string; content: string; permissions: string }[];
  runcmd: string[][];
  mounts: string[][];
  fs_setup: { device: string; overwrite: boolean }[];
}

function files(text: string): Map<string, string> {
  const doc = parse(text) as CloudConfig;
  return new Map(doc.write_files.map((f) => [f.path, f.content]));
}

function validate(text: string): { status: "valid" | "invalid" | "missing"; output: string } {
  const dir = mkdtempSync(join(tmpdir(), "tierstack-cloud-init-"));
  const file = join(dir, "user-data.yaml");
  writeFileSync(file, text);
  const res = spawnSync("cloud-init", ["schema", "--config-file", file], { encoding: "utf8" });
  if (res.error && (res.error as NodeJS.ErrnoException).code === "ENOENT") return { status: "missing", output: "" };
  return { status: res.status === 0 ? "valid" : "invalid", output: `${res.stdout}${res.stderr}` };
}

const haveValidator = validate("#cloud-config\n{}\n").status !== "missing";
if (!haveValidator && process.env.CI === "true") {
  throw new Error("cloud-init is not installed (listed in .ci/apt-packages): the boot configuration cannot be validated");
}

describe("cloud-init schema", () => {
  it.skipIf(!haveValidator)("the single-box boot configuration passes `cloud-init schema`", () => {
    const result = validate(renderCloudInit(singleBoxBoot(config())));
    expect(result.output).toContain("Valid cloud-config");
    expect(result.status).toBe("valid");
  });

  it.skipIf(!haveValidator)("the GPU variant passes too", () => {
    const result = validate(renderCloudInit(singleBoxBoot(config(gpuOverrides))));
    expect(result.status, result.output).toBe("valid");
  });

  it.skipIf(!haveValidator)("the validator rejects a broken document (it is really checking)", () => {
    const broken = renderCloudInit(singleBoxBoot(config())).replace("runcmd:\n", "runcmd: 3\nx_runcmd:\n");
    expect(validate(broken).status).toBe("invalid");
  });
});

describe("boot units", () => {
  const text = renderCloudInit(singleBoxBoot(config()));
  const written = files(text);

  it("starts with #cloud-config and mounts the data disk by its device name without reformatting it", () => {
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    const doc = parse(text) as CloudConfig;
    expect(doc.mounts).toEqual([["/dev/disk/by-id/google-tierstack-data", "/mnt/data", "ext4", "defaults,nofail,discard", "0", "2"]]);
    expect(doc.fs_setup[0]).toMatchObject({ device: "/dev/disk/by-id/google-tierstack-data", overwrite: false });
  });

  it("has a unit with Restart=always for every catalogue service and every platform process", () => {
    for (const name of [...serviceNames, "nats", "litellm", "cloudflared"]) {
      const unit = written.get(`/etc/systemd/system/${unitFileName({ name })}`);
      expect(unit, name).toBeDefined();
      expect(unit).toMatch(/^Restart=always$/m);
      expect(unit).toMatch(/^RequiresMountsFor=\/mnt\/data$/m);
    }
    const enable = (parse(text) as CloudConfig).runcmd.find((c) => c.includes("enable") && c.includes("--no-block"));
    for (const name of [...serviceNames, "nats", "litellm", "cloudflared"]) expect(enable).toContain(unitFileName({ name }));
  });

  it("has no llama-server and no driver step without a GPU", () => {
    expect(written.has("/etc/systemd/system/tierstack-llama-server.service")).toBe(false);
    expect(written.has("/usr/local/sbin/tierstack-install-gpu-driver")).toBe(false);
  });

  it("runs each service's image from config, on its catalogue port, bound to localhost", () => {
    const cfg = config({ "tierstack:brainImage": `ghcr.io/tierstack/brain:0.2.0@sha256:${"a".repeat(64)}` });
    const boot = singleBoxBoot(cfg);
    expect(cfg.warnings.some((w) => w.includes("brainImage"))).toBe(false);
    for (const name of serviceNames) {
      const unit = boot.units.find((u) => u.name === name);
      expect(unit?.image).toBe(cfg.images[services[name].imageKey]?.ref);
      expect(unit?.env.PORT).toBe(String(services[name].port));
      expect(unit?.env.HOST).toBe("127.0.0.1");
    }
    expect(renderCloudInit(boot)).toContain(`ghcr.io/tierstack/brain:0.2.0@sha256:${"a".repeat(64)}`);
  });

  it("sets every required environment key; secret keys only from Secret Manager", () => {
    const boot = singleBoxBoot(config());
    for (const name of serviceNames) {
      const unit = boot.units.find((u) => u.name === name);
      if (!unit) throw new Error(`no unit for ${name}`);
      for (const key of services[name].env) {
        if (key.secret) expect(unit.env[key.name], `${name} ${key.name} in plain env`).toBeUndefined();
        else expect(unit.secretEnv[key.name], `${name} ${key.name}`).toBeUndefined();
        if (key.required) expect(unit.env[key.name] ?? unit.secretEnv[key.name], `${name} ${key.name}`).toBeDefined();
      }
      const declared = new Set(services[name].env.map((k) => k.name));
      for (const env of [...Object.keys(unit.env), ...Object.keys(serviceSecretBindings[name])]) expect(declared.has(env), `${name} ${env}`).toBe(true);
    }
  });

  it("fetches each unit's secrets at boot into a root-only file under /run", () => {
    const script = written.get("/usr/local/sbin/tierstack-fetch-secrets") ?? "";
    expect(script).toMatch(/^umask 077$/m);
    expect(script).toContain("secretmanager.googleapis.com/v1/projects/$project/secrets/$1/versions/latest:access");
    expect(script).toContain("v=$(fetch tierstack-single-box-brain-admin-token)");
    expect(script).toContain("mv \"$tmp\" /run/tierstack/brain.secrets.env");
    expect(written.get("/etc/systemd/system/tierstack-brain.service")).toContain("--env-file /run/tierstack/brain.secrets.env");
    const secretsUnit = written.get("/etc/systemd/system/tierstack-secrets.service") ?? "";
    expect(secretsUnit).toContain("ExecStart=/usr/local/sbin/tierstack-fetch-secrets");
  });
});

describe("GPU boot", () => {
  const written = files(renderCloudInit(singleBoxBoot(config(gpuOverrides))));

  it("installs the driver in its own step and runs llama-server on the GPU after it", () => {
    const driver = written.get("/usr/local/sbin/tierstack-install-gpu-driver") ?? "";
    expect(driver).toContain("ubuntu-drivers install --gpgpu");
    expect(driver).toContain("nvidia-ctk runtime configure --runtime=docker");
    const llama = written.get("/etc/systemd/system/tierstack-llama-server.service") ?? "";
    expect(llama).toMatch(/^Restart=always$/m);
    expect(llama).toMatch(/^After=.*tierstack-gpu-driver\.service/m);
    expect(llama).toContain("--gpus all");
    expect(llama).toContain("ExecStartPre=/usr/bin/nvidia-smi");
  });

  it("the llama-server unit is gpu-node's rendered server: its flags, its GPU, its health check on /health", () => {
    const cfg = config(gpuOverrides);
    const unit = singleBoxBoot(cfg).units.find((u) => u.name === "llama-server");
    const rendered = render(llamaServerSpec(cfg));
    expect(unit?.args).toEqual(rendered.args);
    expect(unit?.env).toEqual({ CUDA_VISIBLE_DEVICES: "0", LLAMA_CACHE: "/models" });
    expect(unit?.healthPath).toBe("/health");
    expect(unit?.port).toBe(8080);
    // The single box's command line: 4 slots sharing -c 8192, every layer on the GPU, metrics on.
    expect(rendered.args).toEqual([
      "--host", "127.0.0.1", "--port", "8080", "-hf", cfg.llamaModel, "-a", "llama-3.1-8b-instruct",
      "-c", "8192", "--parallel", "4", "-ngl", "99", "--metrics", "--no-webui",
    ]);
    expect(written.get("/etc/tierstack/llama-server.env")).toBe("CUDA_VISIBLE_DEVICES=0\nLLAMA_CACHE=/models\n");
  });
});

describe("LiteLLM config", () => {
  interface LitellmYaml { model_list: { model_name: string; litellm_params: Record<string, string> }[]; general_settings: Record<string, string> }
  const litellm = (cfg: StackConfig) => {
    const text = files(renderCloudInit(singleBoxBoot(cfg))).get("/etc/tierstack/litellm.yaml") ?? "";
    expect(text).not.toMatch(/[&*]a\d/); // plain YAML, no anchors
    return parse(text) as LitellmYaml;
  };
  const byName = (doc: LitellmYaml) => new Map(doc.model_list.map((m) => [m.model_name, m.litellm_params]));

  it("with a GPU routes the local model to llama-server on this box and the cloud model through OpenRouter", () => {
    const cfg = config(gpuOverrides);
    const models = byName(litellm(cfg));
    const llama = singleBoxBoot(cfg).units.find((u) => u.name === "llama-server");
    // llama-server names its model with -a (gpu-node's render); LiteLLM asks for that name.
    const alias = llama?.args[(llama?.args.indexOf("-a") ?? -2) + 1];
    expect(alias).toBe("llama-3.1-8b-instruct");
    expect(models.get("local")).toEqual({ model: `openai/${alias}`, api_base: `http://127.0.0.1:${llama?.port}/v1`, api_key: "none" });
    expect(models.get(plans.free.model)).toEqual(models.get("local"));
    expect(llama?.args).toEqual(expect.arrayContaining(["-hf", cfg.llamaModel, "--port", String(llama?.port)]));
    expect(models.get("cloud")).toEqual({ model: "openrouter/openai/gpt-4o-mini", api_key: "os.environ/OPENROUTER_API_KEY" });
    expect(litellm(cfg).general_settings.master_key).toBe("os.environ/LITELLM_MASTER_KEY");
  });

  it("with a GPU the agents' \"local\" falls back to the same 8B on OpenRouter; the brain's names have no LiteLLM fallback (ADR 0005)", () => {
    const doc = litellm(config(gpuOverrides)) as LitellmYaml & { router_settings: { fallbacks: Record<string, string[]>[] } };
    expect(doc.router_settings.fallbacks).toEqual([{ local: [plans.free.fallbackModel] }]);
    const names = new Set(doc.router_settings.fallbacks.flatMap((f) => Object.keys(f)));
    for (const plan of Object.values(plans)) {
      expect(names.has(plan.model), plan.model).toBe(false);
      expect(names.has(plan.fallbackModel), plan.fallbackModel).toBe(false);
    }
    expect(byName(doc).get(plans.free.fallbackModel)?.model).toBe(`openrouter/${plans.free.fallbackModel}`);
  });

  it("without a GPU has no llama-server route; the brain's local model falls back to OpenRouter", () => {
    const doc = litellm(config());
    expect(doc.model_list.some((m) => m.litellm_params.api_base !== undefined)).toBe(false);
    expect(byName(doc).has("local")).toBe(false);
    for (const m of doc.model_list) expect(String(m.litellm_params.model).startsWith("openrouter/"), m.model_name).toBe(true);
  });

  it("serves every model the brain's plans ask for (primary and fallback), with and without a GPU", () => {
    for (const cfg of [config(), config(gpuOverrides)]) {
      const served = byName(litellm(cfg));
      for (const plan of Object.values(plans)) {
        expect(served.has(plan.model), plan.model).toBe(true);
        expect(served.has(plan.fallbackModel), plan.fallbackModel).toBe(true);
      }
    }
  });

  it("gets its keys from the secrets fetched at boot, and the brain points at it", () => {
    const boot = singleBoxBoot(config());
    const unit = boot.units.find((u) => u.name === "litellm");
    expect(Object.keys(unit?.secretEnv ?? {}).sort()).toEqual(["LITELLM_MASTER_KEY", "OPENROUTER_API_KEY"]);
    expect(unit?.volumes["/etc/tierstack/litellm.yaml"]).toBe("/app/config.yaml");
    expect(unit?.args.slice(0, 2)).toEqual(["--config", "/app/config.yaml"]);
    const brain = boot.units.find((u) => u.name === "brain");
    expect(brain?.env.LLM_BASE_URL).toBe(`http://127.0.0.1:${unit?.port}/v1`);
    expect(brain?.secretEnv.LLM_API_KEY).toBe(unit?.secretEnv.LITELLM_MASTER_KEY);
  });
});

describe("boot-time secret fetch (the rendered script, run against a fake metadata server and Secret Manager)", () => {
  it("writes each unit's secrets, and only those, to a 0600 env file", () => {
    const boot = singleBoxBoot(config());
    const dir = mkdtempSync(join(tmpdir(), "tierstack-fetch-"));
    const bin = join(dir, "bin");
    const out = join(dir, "run");
    mkdirSync(bin);
    // Fake curl: the URL is the last argument; a secret's value is "value-of-<secret id>".
    writeFileSync(join(bin, "curl"), [
      "#!/bin/bash",
      'url="${@: -1}"',
      'case "$url" in',
      '  */project/project-id) echo proj ;;',
      '  */service-accounts/default/token) echo \'{"access_token":"t"}\' ;;',
      '  https://secretmanager.googleapis.com/v1/projects/proj/secrets/*/versions/latest:access)',
      '    id="${url#*/secrets/}"; id="${id%%/*}"',
      '    printf \'{"payload":{"data":"%s"}}\' "$(printf "value-of-%s" "$id" | base64 -w0)" ;;',
      '  *) exit 22 ;;',
      "esac",
      "",
    ].join("\n"), { mode: 0o755 });
    const script = renderFetchSecrets(boot).replaceAll("/run/tierstack", out);
    const res = spawnSync("bash", ["-c", script], { encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` } });
    expect(res.status, res.stderr).toBe(0);
    for (const unit of boot.units) {
      const file = join(out, `${unit.name}.secrets.env`);
      expect(statSync(file).mode & 0o777, unit.name).toBe(0o600);
      const expected = Object.entries(unit.secretEnv).map(([env, id]) => `${env}=value-of-${id}\n`).join("");
      expect(readFileSync(file, "utf8"), unit.name).toBe(expected);
    }
    expect(readFileSync(join(out, "brain.secrets.env"), "utf8")).toContain("BRAIN_ADMIN_TOKEN=value-of-tierstack-single-box-brain-admin-token\n");
  });
});
