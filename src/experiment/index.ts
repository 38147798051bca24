// The experiment layer's public surface: analysis, sequential tests and statistics.
export * from "./analysis.js";
export * from "./sequential.js";
export * from "./stats.js";
