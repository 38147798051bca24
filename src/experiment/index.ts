export * from "./analysis.js";
export * from "./sequential.js";
export * from "./stats.js";
