/**
 * The platform's own secrets: where each value comes from. All of them are stored in Secret
 * Manager (one secret each), fetched at boot into root-only env files, and never rendered into
 * boot configuration, instance metadata or plain stack outputs.
 */
export type SecretName =
  | "task-queue-database-url"
  | "brain-database-url"
  | "gateway-upstream-token"
  | "whatsapp-app-secret"
  | "whatsapp-verify-token"
  | "whatsapp-access-token"
  | "stripe-secret-key"
  | "stripe-webhook-secret"
  | "brain-admin-token"
  | "litellm-master-key"
  | "openrouter-api-key"
  | "cloudflared-tunnel-token"
  | "agents-access-client-id"
  | "agents-access-client-secret";

export type SecretSource =
  /** random.RandomPassword of `length` characters (letters and digits), with an optional prefix. */
  | { kind: "generated"; length: number; prefix?: string }
  /** A config secret: pulumi config set --secret tierstack:<key>. */
  | { kind: "config"; key: string }
  /** Computed by the program from other values (database paths, the tunnel token). */
  | { kind: "derived"; from: string };

export interface SecretSpec {
  name: SecretName;
  description: string;
  source: SecretSource;
  /** The box's service account may read it (default). False for credentials other machines use. */
  readByBox?: boolean;
}

export const platformSecrets: SecretSpec[] = [
  { name: "task-queue-database-url", description: "task-queue DATABASE_URL (also the gateway's token store)", source: { kind: "derived", from: "the SQLite path on the data disk" } },
  { name: "brain-database-url", description: "brain DATABASE_URL", source: { kind: "derived", from: "the SQLite path on the data disk" } },
  { name: "gateway-upstream-token", description: "MCP gateway credential towards its shards", source: { kind: "generated", length: 48 } },
  { name: "whatsapp-app-secret", description: "Meta app secret", source: { kind: "config", key: "whatsappAppSecret" } },
  { name: "whatsapp-verify-token", description: "hub.verify_token to enter in Meta's webhook settings", source: { kind: "generated", length: 32 } },
  { name: "whatsapp-access-token", description: "WhatsApp Cloud API bearer token", source: { kind: "config", key: "whatsappAccessToken" } },
  { name: "stripe-secret-key", description: "Stripe API key", source: { kind: "config", key: "stripeSecretKey" } },
  { name: "stripe-webhook-secret", description: "Stripe webhook signing secret", source: { kind: "config", key: "stripeWebhookSecret" } },
  { name: "brain-admin-token", description: "Bearer token of the brain's admin endpoints", source: { kind: "generated", length: 48 } },
  // LiteLLM requires the master key to start with "sk-" (docs.litellm.ai/docs/proxy/virtual_keys).
  { name: "litellm-master-key", description: "LiteLLM proxy master key (also the brain's LLM_API_KEY)", source: { kind: "generated", length: 48, prefix: "sk-" } },
  { name: "openrouter-api-key", description: "OpenRouter key for cloud models", source: { kind: "config", key: "openrouterApiKey" } },
  { name: "cloudflared-tunnel-token", description: "TUNNEL_TOKEN of the cloudflared connector", source: { kind: "derived", from: "account id, tunnel id and the generated tunnel secret" } },
  // Agents send these as CF-Access-Client-Id / CF-Access-Client-Secret to task-queue and
  // mcp-gateway through the tunnel. Nothing on the box uses them, so the box cannot read them.
  { name: "agents-access-client-id", description: "Cloudflare Access service token client id of the agents (CF-Access-Client-Id)", source: { kind: "derived", from: "the Cloudflare Access service token" }, readByBox: false },
  { name: "agents-access-client-secret", description: "Cloudflare Access service token client secret of the agents (CF-Access-Client-Secret)", source: { kind: "derived", from: "the Cloudflare Access service token" }, readByBox: false },
];

/** Secret Manager secret id of a platform secret in a stack. */
export function secretId(stack: string, name: SecretName): string {
  return `tierstack-${stack}-${name}`;
}
