export * from "./env.js";
export * from "./logger.js";
export * from "./http.js";
export * from "./shutdown.js";
export * from "./db.js";
export * from "./tokens.js";
export * from "./token-store.js";
export * from "./net.js";
