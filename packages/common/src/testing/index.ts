export * from "./services.js";
export * from "./processes.js";
export * from "./tls.js";
export * from "./seeded.js";
