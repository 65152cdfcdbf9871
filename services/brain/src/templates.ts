/**
 * What the brain says on its own, and the 24-hour customer-service window: inside it a free-form
 * text may be sent; outside it only approved templates (onboarding, payment link, re-engagement).
 */
import type { Outbound } from "./whatsapp.js";

export const WINDOW_MS = 24 * 60 * 60 * 1000;

/** Approved template names (registered in WhatsApp Manager with these names). */
export const templates = {
  onboarding: "tierstack_onboarding",
  paymentLink: "tierstack_payment_link",
  reengagement: "tierstack_reengagement",
} as const;

export const SYSTEM_PROMPT =
  "You are a patient, encouraging tutor talking with a learner on WhatsApp. Answer briefly (a few short paragraphs at most), " +
  "ask one question at a time, and never ask for personal data.";

export const texts = {
  stopped: "You will not receive more messages from us. Send START at any time to begin again.",
  restarted: "Welcome back! Ask me anything to continue learning.",
  /** The answer to a message with nothing to read (a voice note, a sticker, a photo without a caption…). */
  unreadable: "I can only read text and captions for now. Please type your question, or add it as a caption to your photo, video or document.",
  /** The answer to request_welcome (the learner opened the chat for the first time). */
  welcome: "Hi! I'm your tutor on WhatsApp. Ask me anything to start learning. Send STOP at any time to stop.",
  overQuota: (link?: string) =>
    link
      ? `You have reached today's limit on your plan. It resets at midnight UTC — or upgrade for more: ${link}`
      : "You have reached today's limit on your plan. It resets at midnight UTC.",
};

export function windowOpen(lastInboundAt: number | null, now: number): boolean {
  return lastInboundAt !== null && now - lastInboundAt < WINDOW_MS;
}

/** What is stored in the outbound row: the in-window message and the template sent instead once the window has closed. */
export interface OutboundPayload {
  msg: Outbound;
  outsideWindow: Outbound;
}

/** Templates go out as they are; free text only inside the window, else its template stand-in. */
export function choose(p: OutboundPayload, lastInboundAt: number | null, now: number): Outbound {
  if (p.msg.kind === "template" || windowOpen(lastInboundAt, now)) return p.msg;
  return p.outsideWindow;
}

export function reengagement(to: string, language: string): Outbound {
  return { kind: "template", to, template: templates.reengagement, language };
}
