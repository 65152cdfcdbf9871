/** How `plan` reads a stack file: `secure:` values, missing secrets, overrides. */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../cli/main.js";
import { loadStackConfig, planStack, repoRoot, SECRET } from "../cli/plan.js";

const reference = readFileSync(join(repoRoot, "stacks", "Pulumi.single-box.yaml"), "utf8");

describe("plan stack files", () => {
  it("treats `secure:` values as secrets it cannot read, and never prints the ciphertext", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tierstack-plan-"));
    const ciphertext = "v1:c2VjdXJlLWNpcGhlcnRleHQtdGhhdC1tdXN0LW5vdC1wcmludA==";
    writeFileSync(join(dir, "Pulumi.enc.yaml"), `${reference}  tierstack:stripeSecretKey:\n    secure: ${ciphertext}\n`);
    const loaded = loadStackConfig("enc", { stacksDir: dir });
    expect(loaded.secretKeys).toContain("tierstack:stripeSecretKey");
    expect(loaded.config["tierstack:stripeSecretKey"]).not.toContain(ciphertext);
    expect(loaded.warnings.some((w) => w.startsWith("tierstack:stripeSecretKey"))).toBe(false);
    expect(loaded.warnings.some((w) => w.startsWith("tierstack:openrouterApiKey is not set"))).toBe(true);

    const plan = await planStack("enc", { stacksDir: dir });
    const text = JSON.stringify(plan);
    expect(text).not.toContain(ciphertext);
    const stripe = plan.resources.find((r) => r.type === "gcp:secretmanager/secretVersion:SecretVersion" && r.name.endsWith("stripe-secret-key"));
    expect(stripe?.inputs.secretData).toBe(SECRET);
  });

  it("turns lists and numbers into Pulumi's string form", () => {
    const loaded = loadStackConfig("single-box");
    expect(loaded.config["tierstack:accessEmails"]).toBe('["ops@example.com"]');
    expect(loaded.config["tierstack:dataDiskGb"]).toBe("100");
  });
});

/** A broken copy of the reference stack in a scratch directory, and the one line plan prints for it. */
async function planError(name: string, yaml: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "tierstack-broken-"));
  writeFileSync(join(dir, `Pulumi.${name}.yaml`), yaml);
  const io = { out: "", err: "" };
  const before = process.env.TIERSTACK_STACKS_DIR;
  process.env.TIERSTACK_STACKS_DIR = dir;
  let code: number;
  try {
    code = await main(["plan", name], { out: (s) => (io.out += s), err: (s) => (io.err += s) });
  } finally {
    if (before === undefined) delete process.env.TIERSTACK_STACKS_DIR;
    else process.env.TIERSTACK_STACKS_DIR = before;
  }
  expect(code).toBe(1);
  const lines = io.err.trim().split("\n").filter((l) => !l.startsWith("warning: "));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(`Pulumi.${name}.yaml`);
  return lines[0] as string;
}

const withLine = (key: string, value: string) => reference.replace(new RegExp(`^  ${key}: .*$`, "m"), `  ${key}: ${value}`);

describe("plan refuses a broken stack file in one line naming the file, the key and the fix", () => {
  it("a YAML syntax error, with line and column", async () => {
    const line = await planError("yaml", reference.replace("  tierstack:zone: us-central1-a", "  tierstack:zone: [us-central1-a"));
    expect(line).toMatch(/Pulumi\.yaml\.yaml:\d+:\d+: YAML error: .+; fix the file's syntax$/);
  });

  it("a secret written in plain text, with the pulumi config set --secret command", async () => {
    const line = await planError("plain", `${reference}  tierstack:stripeSecretKey: sk_live_0123456789abcdef\n`);
    expect(line).toContain("tierstack:stripeSecretKey is a secret written in plain text; remove the line and run: pulumi config set --secret tierstack:stripeSecretKey <value>");
    expect(line).not.toContain("sk_live_0123456789abcdef");
  });

  it("a provider credential written in plain text", async () => {
    const line = await planError("cf", `${reference}  cloudflare:apiToken: abcdefabcdef\n`);
    expect(line).toContain("pulumi config set --secret cloudflare:apiToken <value>");
  });

  it.each([
    ["tierstack:machineType", "e2-standard-3", /is not a supported machine type; accepted: .*e2-standard-4/],
    ["tierstack:region", "mars-north1", /tierstack:region = "mars-north1" is not a known region; accepted: a GCP region such as us-central1/],
    ["tierstack:zone", "us-central1-z", /tierstack:zone = "us-central1-z" is not a zone of the region; accepted: a zone of region us-central1: us-central1-a, us-central1-b, us-central1-c, us-central1-f/],
  ])("%s %s not in the catalogue", async (key, value, expected) => {
    expect(await planError("cat", withLine(key, value))).toMatch(expected);
  });

  it("an unquoted 17-digit id, which YAML would round", async () => {
    const line = await planError("digits", withLine("tierstack:whatsappPhoneNumberId", "10000000000000001"));
    expect(line).toContain('tierstack:whatsappPhoneNumberId is written as a number (10000000000000001), which YAML reads as 10000000000000000; quote it: tierstack:whatsappPhoneNumberId: "10000000000000001"');
  });

  it("an empty value is called empty, not null", async () => {
    const line = await planError("empty", withLine("tierstack:domain", ""));
    expect(line).toContain("tierstack:domain is empty; give it a value or remove the line");
    expect(line).not.toContain("null");
  });

  it("secure: on a key that is not a secret names the key, never the internal placeholder", async () => {
    const line = await planError("secure", withLine("tierstack:domain", "\n    secure: v1:AAAABBBBCCCC"));
    expect(line).toContain("tierstack:domain is encrypted (secure:) but is not a secret");
    expect(line).not.toContain("placeholder");
  });

  it.each([["a list", "config:\n  - tierstack:tier\n"], ["a scalar", "config: 3\n"]])("config: as %s is blamed on config:, not on tierstack:tier", async (_what, yaml) => {
    const line = await planError("shape", yaml);
    expect(line).toMatch(/"config:" must be a mapping of key: value lines/);
    expect(line).not.toContain("tierstack:tier");
  });

  it("a value the parser refuses is reported with the file", async () => {
    expect(await planError("tier", withLine("tierstack:tier", "tier-9000"))).toMatch(/Pulumi\.tier\.yaml: tierstack:tier = "tier-9000" is not a known tier/);
  });
});
