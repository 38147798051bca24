// Which variant an experiment attributes an evaluation to, for exposures and conversions alike: the
// one the weighted split served, recomputed from the deterministic hash, never stored.
import {
  type CompiledDocument,
  type EvaluationContext,
  type EvaluationDetails,
  evaluate,
  servedBySplit,
} from "./evaluate.js";

/**
 * The variant an experiment counts this result under, or undefined when it counts it nowhere: an
 * error, a result without a variant, or a variant a rule serves outright (outside the split).
 */
export function experimentVariant(result: EvaluationDetails): string | undefined {
  return result.errorCode === undefined && result.variant !== undefined && servedBySplit(result)
    ? result.variant
    : undefined;
}

export interface ConversionAttribution {
  /** False when the document has no such flag. */
  readonly flagFound: boolean;
  /** The variant the user is in now; undefined when the user is outside the experiment. */
  readonly variant: string | undefined;
}

/**
 * Attributes a conversion of `flag` by the user of `context` to the variant the user is assigned
 * now. The whole context: a rule may send this user to a fixed variant, outside the experiment.
 */
export function attributeConversion(
  compiled: CompiledDocument,
  flag: string,
  context: EvaluationContext,
): ConversionAttribution {
  const result = evaluate(compiled, flag, context);
  return { flagFound: result.errorCode !== "FLAG_NOT_FOUND", variant: experimentVariant(result) };
}
