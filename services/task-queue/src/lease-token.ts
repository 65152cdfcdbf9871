import { randomBytes } from "node:crypto";

/** A fresh fencing token for one claim: 96 random bits, base64url (ADR 0012). Both stores use it. */
export const newLeaseToken = (): string => randomBytes(12).toString("base64url");
