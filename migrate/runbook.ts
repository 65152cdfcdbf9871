/**
 * The runbook of each transition, generated from migrate/transitions.ts into docs/migrations/
 * (`npx tsx cli/main.ts migrate runbooks` rewrites them; a test fails when a checked-in runbook
 * differs from what the definitions generate).
 */
import { transitions, type Transition } from "./transitions.js";

export const runbookFile = (t: Transition) => `${t.from}-to-${t.to}.md`;

export function renderRunbook(t: Transition): string {
  const out: string[] = [
    `# Migrating a stack from ${t.from} to ${t.to}`,
    "",
    `<!-- Generated from migrate/transitions.ts by \`tierstack migrate runbooks\`: edit the definitions, not this file. -->`,
    "",
    t.summary + ".",
    "",
    "Each stage is applied by `pulumi up` and verified before the next; `tierstack migrate` refuses to skip a stage or to contract before the cut-over has passed verification. At any stage:",
    "",
    "```sh",
    "tierstack migrate status --stack <stack>     # where the stack is and what comes next",
    "tierstack migrate plan --stack <stack>       # every stage of the transition",
    "tierstack migrate next --stack <stack>       # move to the next stage (writes the stack config), then: pulumi up",
    "tierstack migrate verify --stack <stack> …   # run this stage's verification; recorded in the stack config when it passes",
    "tierstack migrate rollback --stack <stack>   # one stage back (then: pulumi up)",
    "tierstack migrate copy --stack <stack> …     # the stores (copy and cutover stages); copy-back: the way back from cutover",
    "tierstack migrate writes drain|freeze|resume --stack <stack> …   # the write path at cutover (ADR 0043)",
    "tierstack migrate stream mirror|switch|compare --stack <stack> … # the JetStream stream across a leaf node",
    "```",
    "",
    "What agents and learners see at cut-over: while the task queue drains, a claim is answered `503 {\"error\":\"cutover\"}` with `Retry-After` (come back then, not a failure) and held leases heartbeat and complete as usual; while it is frozen every write is answered so; after the switch the same requests reach the new side, and a lease held across it completes there with its token. Learners' messages keep being acknowledged into the inbox while the reply workers are held; in the short gap between stopping the box's brain and the switch Meta's deliveries fail and Meta delivers them again; every message is answered once, after the switch.",
    "",
    "## What state moves",
    "",
    ...t.stateNotes.map((n) => `- ${n}`),
    "",
  ];
  t.stages.forEach((s, i) => {
    out.push(`## ${i + 1}. ${s.title}`, "");
    const config = Object.entries(s.config);
    out.push(`- **Stack config:** \`tierstack:migrationStage: ${s.id}\`${config.map(([k, v]) => `, \`${k}: ${v === "" ? '""' : v}\``).join("")}`);
    out.push(`- **Preconditions:** ${s.preconditions.join("; ")}.`);
    out.push(`- **Data:** ${s.data || "nothing moves at this stage"}.`);
    out.push(`- **Verification:** ${s.verification.join("; ")}.`);
    out.push(`- **Rollback:** ${s.rollback}.`, "");
  });
  return out.join("\n");
}

export function renderRunbooks(): Record<string, string> {
  return Object.fromEntries(transitions.map((t) => [runbookFile(t), renderRunbook(t)]));
}
