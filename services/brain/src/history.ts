/**
 * Conversation history trimming to a per-plan token budget. Token counts are a deliberate,
 * dependency-free estimate (no tokenizer per model): ~4 ASCII characters per token and one token
 * per non-ASCII code point (a cautious figure for non-Latin scripts), plus a fixed overhead per
 * chat message for the role framing.
 */
import type { ChatMessage } from "./llm.js";

/** Framing tokens per chat message (role + separators in the OpenAI chat format). */
export const MESSAGE_OVERHEAD_TOKENS = 4;

export function estimateTokens(text: string): number {
  let ascii = 0;
  let other = 0;
  for (const ch of text) {
    if (ch.codePointAt(0)! < 128) ascii++;
    else other++;
  }
  return Math.ceil(ascii / 4) + other;
}

export function messageTokens(m: ChatMessage): number {
  return estimateTokens(m.content) + MESSAGE_OVERHEAD_TOKENS;
}

/**
 * Keeps every system message and the newest other turns that fit in `budgetTokens`, in their
 * original order. The newest message is always kept (without it the model would have nothing to
 * answer), even when it alone exceeds the budget; older turns are dropped whole, never cut.
 * The kept non-system turns are always a suffix of the conversation (no holes).
 */
export function trimHistory(messages: ChatMessage[], budgetTokens: number): ChatMessage[] {
  if (messages.length === 0) return [];
  const budget = Number.isNaN(budgetTokens) ? 0 : budgetTokens; // NaN would compare false and keep everything
  const keep = new Array<boolean>(messages.length).fill(false);
  let used = 0;
  messages.forEach((m, i) => {
    if (m.role === "system") {
      keep[i] = true;
      used += messageTokens(m);
    }
  });
  const last = messages.length - 1;
  let first = true;
  for (let i = last; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role === "system") continue;
    const cost = messageTokens(m);
    if (first) {
      keep[i] = true;
      used += cost;
      first = false;
      continue;
    }
    if (used + cost > budget) break;
    keep[i] = true;
    used += cost;
  }
  return messages.filter((_, i) => keep[i]);
}
