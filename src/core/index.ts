// flagwright/core: the resolved document and deterministic evaluation, with no I/O.
export * from "./build-document.js";
export * from "./document.js";
export * from "./evaluate.js";
export { bucketOf, fineBucketOf, percentThreshold, variantBucketOf } from "./hash.js";
export { CUSTOM_FUNCTIONS, checkExpression, type ExpressionProblem, formatProblem } from "./rules.js";
export { compareSemver } from "./semver.js";
