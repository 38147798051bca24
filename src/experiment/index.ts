export * from "./analysis.js";
export * from "./stats.js";
