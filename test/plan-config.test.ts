/** How `plan` reads a stack file: `secure:` values, missing secrets, overrides. */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
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
