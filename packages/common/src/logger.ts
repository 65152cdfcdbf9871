import type { LoggerOptions } from "pino";

/** pino options shared by the services: secrets and phone numbers never reach the log. */
export function loggerOptions(level: string, service: string): LoggerOptions {
  return {
    level,
    base: { service },
    redact: {
      paths: [
        "req.headers.authorization",
        "req.headers.cookie",
        'req.headers["x-hub-signature-256"]',
        'req.headers["stripe-signature"]',
        "*.token",
        "*.password",
        "*.secret",
      ],
      censor: "[redacted]",
    },
  };
}

/** Keep a phone number recognisable to an operator without logging it: +44******789. */
export function redactPhone(phone: string): string {
  const digits = phone.replace(/\D/g, "");
  if (digits.length <= 5) return "*".repeat(digits.length);
  return `+${digits.slice(0, 2)}${"*".repeat(digits.length - 5)}${digits.slice(-3)}`;
}
