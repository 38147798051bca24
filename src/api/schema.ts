// The FeatureFlag API (flagwright.dev/v1alpha1): the one source of truth. `npm run generate`
// turns it into crds/featureflags.flagwright.dev.yaml and src/api/types.generated.ts; a test
// fails when either is out of date. Validation lives here so the API server enforces it; every
// CEL rule carries a message that names the rule in plain words.

export const GROUP = "flagwright.dev";
export const VERSION = "v1alpha1";
export const KIND = "FeatureFlag";
export const PLURAL = "featureflags";
export const API_VERSION = `${GROUP}/${VERSION}`;

export type JSONSchema = {
  type?: "object" | "array" | "string" | "number" | "integer" | "boolean";
  description?: string;
  properties?: Record<string, JSONSchema>;
  required?: string[];
  items?: JSONSchema;
  additionalProperties?: JSONSchema | boolean;
  enum?: readonly (string | number)[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  default?: unknown;
  nullable?: boolean;
  "x-kubernetes-validations"?: { rule: string; message: string }[];
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-map-type"?: "atomic" | "granular";
  "x-kubernetes-preserve-unknown-fields"?: boolean;
};

/** Flag keys and variant names: slugs, compatible with Django's SlugField plus dots. */
export const SLUG_PATTERN = "^[A-Za-z0-9]([A-Za-z0-9_.-]{0,126}[A-Za-z0-9])?$";
/**
 * A flag's Prometheus base URL: http(s), a host name, IPv4 or [IPv6] address, an optional port and
 * path, and nothing else: no user info (credentials of its own), query or fragment (either would
 * move the API path the operator appends somewhere else), no backslash or space.
 */
export const PROMETHEUS_ADDRESS_PATTERN =
  "^https?://([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\\\\[[0-9A-Fa-f:.]+\\\\])(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&()*+,;=:@%/-]*)?$";
/** Durations: one or more <number><unit> with units ms, s, m, h, d (e.g. 30s, 5m, 1h30m, 90d). */
export const DURATION_PATTERN = "^([0-9]+(ms|s|m|h|d))+$";

// Two decimals at most (0.01 % granularity). Compared with a tolerance because 0.07 * 100 is
// 7.000000000000001 in binary floating point.
const twoDecimals = (what: string) => ({
  rule: "self * 100.0 - double(int(self * 100.0 + 0.5)) < 0.000001 && self * 100.0 - double(int(self * 100.0 + 0.5)) > -0.000001",
  message: `${what} allows at most two decimals (0.01 % steps)`,
});

const percent = (description: string, what: string): JSONSchema => ({
  type: "number",
  description,
  minimum: 0,
  maximum: 100,
  "x-kubernetes-validations": [twoDecimals(what)],
});

const duration = (description: string, example: string): JSONSchema => ({
  type: "string",
  description,
  maxLength: 32,
  "x-kubernetes-validations": [
    {
      rule: `self.matches('${DURATION_PATTERN}')`,
      message: `must be a duration such as ${example} (units ms, s, m, h, d)`,
    },
  ],
});

const slug = (description: string, what: string): JSONSchema => ({
  type: "string",
  description,
  minLength: 1,
  maxLength: 128,
  "x-kubernetes-validations": [
    {
      rule: `self.matches('${SLUG_PATTERN}')`,
      message: `${what} must be a slug: letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
    },
  ],
});

const time = (description: string): JSONSchema => ({ type: "string", format: "date-time", description });

const alertMatcher: JSONSchema = {
  type: "object",
  description: "A Prometheus alert whose firing fails the analysis.",
  required: ["alertName"],
  properties: {
    alertName: { type: "string", minLength: 1, maxLength: 256, description: "The alert's alertname label." },
    matchLabels: {
      type: "object",
      description: "Labels the firing alert must carry as well (e.g. flag: new-checkout).",
      additionalProperties: { type: "string", maxLength: 256 },
    },
  },
};

const analysis: JSONSchema = {
  type: "object",
  description:
    "Metric analysis for the canary: Prometheus alerts that must not fire and/or an error-rate query " +
    "that must stay at or below its threshold. Either failing triggers onFailure.",
  properties: {
    alerts: {
      type: "array",
      maxItems: 16,
      items: alertMatcher,
      description: "Alerts that fail the analysis when firing.",
    },
    query: {
      type: "object",
      description:
        "An error-rate PromQL query; a result above threshold is a failure, an empty result is inconclusive.",
      required: ["promql", "threshold"],
      properties: {
        promql: {
          type: "string",
          minLength: 1,
          maxLength: 4096,
          description: "PromQL returning one number.",
        },
        threshold: {
          type: "number",
          minimum: 0,
          description: "Largest acceptable value (e.g. 0.05 for 5 % errors).",
        },
      },
    },
    interval: duration("How often the query and alerts are checked. Default 30s.", "30s"),
    failureLimit: {
      type: "integer",
      minimum: 1,
      maximum: 100,
      description: "Consecutive failed checks that trigger onFailure. Default 1.",
    },
    onFailure: {
      type: "string",
      enum: ["rollback", "pause"],
      description: "rollback takes the flag to 0 % at once (phase RolledBack); pause holds the current step.",
    },
    // Issue 21: guarded rollouts (flag-on users compared with flag-off users).
    cohort: {
      type: "object",
      description:
        "Compare the error rate of flag-on users with that of flag-off users at every interval, with an " +
        "always-valid sequential test: roll back as soon as the on-cohort is worse with confidence; advance " +
        "a step only once a degradation above maxRelativeDegradation is ruled out (hold while traffic is thin). " +
        "The counters carry the flag key and the served variant as labels (OpenTelemetry feature_flag.key " +
        "and feature_flag.result.variant).",
      required: ["requests", "errors", "maxRelativeDegradation"],
      properties: {
        requests: {
          type: "string",
          minLength: 1,
          maxLength: 1024,
          pattern: "^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{.*\\})?$",
          description:
            'Counter of requests: a metric name or selector, e.g. http_requests_total{service="checkout"}.',
        },
        errors: {
          type: "string",
          minLength: 1,
          maxLength: 1024,
          pattern: "^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{.*\\})?$",
          description: 'Counter of failed requests, e.g. http_requests_total{code=~"5.."}.',
        },
        flagLabel: {
          type: "string",
          maxLength: 128,
          description: "Label holding the flag key. Default feature_flag_key.",
        },
        variantLabel: {
          type: "string",
          maxLength: 128,
          description: "Label holding the served variant. Default feature_flag_result_variant.",
        },
        // Not "on"/"off": YAML 1.1 readers (kubectl among them) take those keys for booleans.
        onVariants: {
          type: "array",
          maxItems: 26,
          items: { type: "string", maxLength: 128 },
          description: "Variant label values of the on-cohort. Default [on].",
        },
        offVariants: {
          type: "array",
          maxItems: 26,
          items: { type: "string", maxLength: 128 },
          description: "Variant label values of the off-cohort. Default [off].",
        },
        maxRelativeDegradation: {
          type: "number",
          minimum: 0,
          // 0 would leave the test nothing to detect (a zero mixing variance): nothing ever rolled back.
          exclusiveMinimum: true,
          maximum: 100,
          description:
            "Largest acceptable relative increase of the on-cohort's error rate (0.2 = 20 % worse); above 0.",
        },
        alpha: {
          type: "number",
          minimum: 0.0001,
          maximum: 0.5,
          description: "Error rate of the whole ramp's comparisons (split over the steps). Default 0.05.",
        },
        minRequests: {
          type: "integer",
          minimum: 1,
          description: "Requests each cohort needs in a step before the comparison decides. Default 200.",
        },
      },
    },
    prometheus: {
      type: "object",
      description:
        "Another Prometheus for this flag. The operator sends its own credentials only to its Prometheus and to " +
        "the addresses its allow-list names; any other address needs credentialsSecret.",
      properties: {
        address: {
          type: "string",
          maxLength: 1024,
          description: "Base URL: http(s)://host[:port][/path], without user info, query or fragment.",
          "x-kubernetes-validations": [
            {
              rule: `self.matches('${PROMETHEUS_ADDRESS_PATTERN}')`,
              message:
                "analysis.prometheus.address must be http(s)://host[:port][/path] without user info, query or fragment",
            },
          ],
        },
        credentialsSecret: {
          type: "object",
          description:
            "A Secret in the flag's namespace holding credentials for address: key address (must equal " +
            "analysis.prometheus.address), and token (bearer) or username and password, and optionally ca.crt. " +
            "The operator reads it only where the cluster admin granted it (see docs/operator.md).",
          required: ["name"],
          properties: {
            name: {
              type: "string",
              minLength: 1,
              maxLength: 253,
              description: "The Secret's name.",
              "x-kubernetes-validations": [
                {
                  rule: "self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",
                  message: "credentialsSecret.name must be a Secret name (lower-case DNS subdomain)",
                },
              ],
            },
          },
        },
      },
      "x-kubernetes-validations": [
        {
          rule: "!has(self.credentialsSecret) || has(self.address)",
          message: "analysis.prometheus.credentialsSecret needs analysis.prometheus.address",
        },
      ],
    },
  },
  "x-kubernetes-validations": [
    {
      rule: "has(self.alerts) || has(self.query) || has(self.cohort)",
      message: "analysis needs alerts, a query or a cohort comparison",
    },
  ],
};

const canaryStep: JSONSchema = {
  type: "object",
  required: ["percent"],
  properties: {
    percent: percent("Share of users on during this step.", "step percent"),
    pause: duration("How long to hold this step before advancing (when analysis passes). Default 0s.", "5m"),
  },
};

const rollout: JSONSchema = {
  type: "object",
  description: "Who gets the flag: a percent of users, optionally reached by a canary ramp.",
  properties: {
    percent: percent(
      "Target share of users (0 to 100, two decimals) for whom the flag is on. Default 100.",
      "rollout.percent",
    ),
    canary: {
      type: "object",
      description:
        "Ramp to rollout.percent step by step, holding each step for its pause while analysis passes.",
      required: ["steps"],
      properties: {
        steps: {
          type: "array",
          minItems: 1,
          maxItems: 20,
          items: canaryStep,
          "x-kubernetes-validations": [
            {
              rule: "self.map(s, s.percent).isSorted() && self.all(a, self.exists_one(b, b.percent == a.percent))",
              message: "canary step percents must be strictly increasing",
            },
          ],
        },
        analysis,
      },
    },
  },
  "x-kubernetes-validations": [
    {
      rule: "!has(self.canary) || has(self.percent)",
      message: "a canary needs rollout.percent, the target it ramps to",
    },
    {
      rule: "!has(self.canary) || !has(self.percent) || self.canary.steps.all(s, s.percent <= self.percent)",
      message: "canary step percents may not exceed rollout.percent",
    },
  ],
};

const variant: JSONSchema = {
  type: "object",
  required: ["name", "weight"],
  properties: {
    name: slug("Variant name, unique within the flag.", "variant name"),
    weight: {
      type: "integer",
      minimum: 0,
      maximum: 100,
      description: "Share of on-users given this variant.",
    },
    value: {
      description: "Value served for this variant (any JSON). Default: the variant name.",
      "x-kubernetes-preserve-unknown-fields": true,
    },
  },
};

// --- Targeting (issue 18): rules over the evaluation context, prerequisites, segments. ---
// The API server cannot compile the users' CEL (it only knows its own variables); the validating
// admission webhook and `flagwright validate` compile every `when` (src/core/rules.ts).

/** Rule and segment expressions: CEL over the evaluation context, at most this long. */
/** The running sums a guarded rollout keeps over a step's time slices (status.cohortAnalysis.tally). */
export const COHORT_TALLY_SUMS = [
  "slices",
  "onRequests",
  "onErrors",
  "offRequests",
  "offErrors",
  "expectedOnErrors",
  "equalVariance",
  "limitVariance",
  "onSquaredOverOff",
] as const;

export const MAX_EXPRESSION_LENGTH = 4096;

const when = (description: string): JSONSchema => ({
  type: "string",
  minLength: 1,
  maxLength: MAX_EXPRESSION_LENGTH,
  description,
});

const ruleServe: JSONSchema = {
  type: "object",
  description:
    "What a matching context gets: exactly one of enabled (on or off; on splits variants by weight), " +
    "variant (a fixed variant) or percent (on for that share of matching users, same sha256 bucket as the rollout).",
  properties: {
    enabled: { type: "boolean", description: "true serves on (variants split by weight), false serves off." },
    variant: { type: "string", maxLength: 128, description: "Serve this variant (one of spec.variants)." },
    percent: percent(
      "On for this share of the users the rule matches (0 to 100, two decimals).",
      "serve.percent",
    ),
  },
  "x-kubernetes-validations": [
    {
      rule: "[has(self.enabled), has(self.variant), has(self.percent)].filter(x, x).size() == 1",
      message: "serve needs exactly one of enabled, variant or percent",
    },
  ],
};

const targetingRule: JSONSchema = {
  type: "object",
  required: ["name", "serve"],
  properties: {
    name: slug("Rule name, unique within the flag; reported as metadata.rule.", "rule name"),
    when: when(
      "CEL expression over the evaluation context (targetingKey, any attribute, now); see docs/evaluation.md. " +
        "A rule that reads a missing attribute does not match.",
    ),
    segments: {
      type: "array",
      description: "Segments (same namespace) the context must belong to, any one of them.",
      maxItems: 16,
      "x-kubernetes-list-type": "set",
      items: slug("Segment name.", "segment name"),
    },
    serve: ruleServe,
  },
  "x-kubernetes-validations": [
    { rule: "has(self.when) || has(self.segments)", message: "a rule needs when, segments, or both" },
  ],
};

const rules: JSONSchema = {
  type: "array",
  description:
    "Targeting rules, evaluated in order after the allow-list and prerequisites; the first match wins.",
  maxItems: 64,
  "x-kubernetes-list-type": "map",
  "x-kubernetes-list-map-keys": ["name"],
  items: targetingRule,
};

const prerequisites: JSONSchema = {
  type: "array",
  description:
    "Flags (same namespace) that must serve on, or the named variant, for the same context; otherwise this flag is off.",
  maxItems: 8,
  "x-kubernetes-list-type": "map",
  "x-kubernetes-list-map-keys": ["flag"],
  items: {
    type: "object",
    required: ["flag"],
    properties: {
      flag: slug("Key of the prerequisite flag.", "prerequisite flag"),
      variant: { type: "string", maxLength: 128, description: "Variant it must serve. Default: on." },
    },
  },
};

const targetingRules = [
  {
    rule: "!has(self.rules) || self.rules.all(r, !has(r.serve.variant) || (has(self.variants) && self.variants.exists(v, v.name == r.serve.variant)))",
    message: "rules[].serve.variant must name one of the variants",
  },
];

const spec: JSONSchema = {
  type: "object",
  description: "What the flag should be. Written by people and Git; the operator never changes it.",
  required: ["enabled"],
  properties: {
    key: slug("Key applications evaluate; also the hash input. Default: metadata.name.", "key"),
    description: { type: "string", maxLength: 1024, description: "What the flag guards." },
    owner: { type: "string", maxLength: 256, description: "Team or person responsible for the flag." },
    enabled: { type: "boolean", description: "Master switch: false turns the flag off for everyone." },
    allowedUsers: {
      type: "array",
      description: "Users (targeting keys) who always get the flag while it is enabled.",
      maxItems: 10000,
      "x-kubernetes-list-type": "set",
      items: { type: "string", minLength: 1, maxLength: 256 },
    },
    rollout,
    variants: {
      type: "array",
      description: "A/B variants; on-users are split by weight on a hash independent of rollout membership.",
      minItems: 2,
      maxItems: 26,
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["name"],
      items: variant,
      "x-kubernetes-validations": [
        { rule: "self.map(v, v.weight).sum() == 100", message: "variant weights must add up to 100" },
      ],
    },
    defaultValue: {
      description:
        "Value served when the flag is off for a user. Default: false for a flag without variants, " +
        "otherwise the evaluation falls back to the caller's default.",
      "x-kubernetes-preserve-unknown-fields": true,
    },
    experiment: {
      type: "object",
      description: "Measure variants against a conversion event until the result is significant.",
      required: ["conversionEvent"],
      properties: {
        conversionEvent: {
          type: "string",
          minLength: 1,
          maxLength: 128,
          description: "Event name sent to /track.",
        },
        control: {
          type: "string",
          maxLength: 128,
          description: "Control variant. Default: the first variant.",
        },
        minSamplePerVariant: {
          type: "integer",
          minimum: 1,
          description: "Exposures per variant before any verdict. Default 1000.",
        },
        minDetectableEffect: {
          type: "number",
          minimum: 0,
          description: "Smallest relative lift worth detecting (0.05 = 5 %). Default 0.05.",
        },
        alpha: {
          type: "number",
          minimum: 0.0001,
          maximum: 0.5,
          description: "Significance level. Default 0.05.",
        },
        // Issue 21: always-valid (sequential) inference by default.
        method: {
          type: "string",
          enum: ["sequential", "fixed"],
          description:
            "sequential (default): always-valid p-values and intervals, so the verdict may be read at every " +
            "analysis and the experiment stopped when it says Significant. fixed: the classical z-test, " +
            "whose verdict is withheld until the planned sample size (minDetectableEffect at 80 % power) " +
            "and then frozen.",
        },
        metrics: {
          type: "object",
          description: "The application's own counters, if it does not use the sidecar's /track.",
          properties: {
            exposures: { type: "string", maxLength: 256, description: "Counter of exposures by variant." },
            conversions: {
              type: "string",
              maxLength: 256,
              description: "Counter of conversions by variant.",
            },
          },
        },
      },
    },
    staleAfter: duration(
      "Report the flag as stale when its effective state has not changed this long. Default 90d.",
      "90d",
    ),
    // A pattern, not `format: date-time`: the API server skips the type check of date-time
    // fields (it accepts `expires: [1]`), so only a plain string type with a pattern makes it
    // refuse a wrong type as `flagwright validate` does (found by test/faults/fuzz-validate.test.ts).
    expires: {
      type: "string",
      pattern:
        "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$",
      description: "Report the flag as stale after this time (RFC 3339, e.g. 2027-01-31T00:00:00Z).",
    },
    rules,
    prerequisites,
  },
  "x-kubernetes-validations": [
    ...targetingRules,
    {
      rule: "!has(self.experiment) || has(self.variants)",
      message: "an experiment needs variants",
    },
    {
      rule: "!has(self.experiment) || !has(self.experiment.control) || self.variants.exists(v, v.name == self.experiment.control)",
      message: "experiment.control must name one of the variants",
    },
  ],
};

const condition: JSONSchema = {
  type: "object",
  required: ["type", "status"],
  properties: {
    type: { type: "string", maxLength: 64 },
    status: { type: "string", enum: ["True", "False", "Unknown"] },
    reason: { type: "string", maxLength: 128 },
    message: { type: "string", maxLength: 4096 },
    lastTransitionTime: time("When status last changed."),
    observedGeneration: { type: "integer" },
  },
};

const actor = (description: string): JSONSchema => ({
  type: "object",
  description,
  properties: {
    at: time("When it was requested."),
    by: { type: "string", maxLength: 256, description: "Who asked (user name)." },
    reason: { type: "string", maxLength: 1024 },
  },
});

function analysisOutcome(description: string): JSONSchema {
  return {
    type: "object",
    description,
    properties: {
      at: time("When the check ran or the push arrived."),
      result: { type: "string", enum: ["Passed", "Failed", "Inconclusive", "Unavailable"] },
      reason: { type: "string", enum: ["Alert", "Query", "Cohort"] },
      alertName: { type: "string" },
      query: { type: "string" },
      value: { type: "number" },
      message: { type: "string", maxLength: 4096 },
    },
  };
}

const status: JSONSchema = {
  type: "object",
  description: "What the operator observed and decided. Manual controls live under controls.",
  properties: {
    observedGeneration: { type: "integer", description: "The spec generation this status describes." },
    phase: {
      type: "string",
      enum: ["Pending", "Progressing", "Paused", "Completed", "RolledBack", "Disabled"],
    },
    key: { type: "string", description: "The resolved key (spec.key or metadata.name)." },
    currentPercent: { type: "number", minimum: 0, maximum: 100, description: "Percent served right now." },
    currentStepIndex: { type: "integer", minimum: 0, description: "Canary step in force (0-based)." },
    stepStartedAt: time("When the current step began."),
    effectiveSince: time("When the served state (on, off, percent) last changed; drives staleness."),
    conditions: {
      type: "array",
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["type"],
      items: condition,
    },
    rollback: {
      type: "object",
      description: "Why the flag was rolled back to 0 %.",
      properties: {
        at: time("When."),
        reason: { type: "string", enum: ["Alert", "Query", "Manual", "AnalysisUnavailable", "Cohort"] },
        alertName: { type: "string" },
        query: { type: "string" },
        value: { type: "number" },
        message: { type: "string", maxLength: 4096 },
        stepIndex: { type: "integer" },
        percent: { type: "number" },
      },
    },
    lastAnalysis: {
      type: "object",
      properties: {
        at: time("When."),
        result: { type: "string", enum: ["Passed", "Failed", "Inconclusive", "Unavailable"] },
        message: { type: "string", maxLength: 4096 },
        consecutiveFailures: { type: "integer", minimum: 0 },
      },
    },
    controls: {
      type: "object",
      description:
        "Manual controls written by `kubectl flagwright` to the status subresource, so Git never drifts.",
      properties: {
        killed: actor("Emergency off: the flag serves off until revived."),
        paused: actor("Hold the canary at its current step."),
        promote: {
          type: "object",
          description: "A request to advance one step (or to the target with full).",
          properties: {
            at: time("When."),
            by: { type: "string" },
            full: { type: "boolean" },
          },
        },
        abort: actor("A manual rollback to 0 %."),
        retry: actor("Restart the canary from its first step after a rollback."),
      },
    },
    experiment: {
      type: "object",
      description: "Experiment results (per variant counts, rates, lift, p-values, verdict).",
      "x-kubernetes-preserve-unknown-fields": true,
    },
    projection: {
      type: "object",
      description: "Where the resolved flag was written.",
      properties: {
        configMap: { type: "string" },
        revision: { type: "string" },
        at: time("When."),
      },
    },
    // Targeting (issue 18).
    nextScheduledChange: time(
      "The next instant at which a rule reading `now` (a timestamp literal it compares with) may change who gets the flag.",
    ),
    // Analysis inputs kept in the cluster so a new leader resumes from them (issue 17). Each has
    // its own server-side-apply field manager: flagwright-analysis (the leader's polling loop)
    // and flagwright-alerts (Alertmanager's webhook, on any replica).
    analysisOutcome: analysisOutcome(
      "The latest check of the analysis loop (field manager flagwright-analysis); the reconciler counts each once, by its time.",
    ),
    cohortAnalysis: {
      type: "object",
      description:
        "The guarded rollout's comparison in the current step (field manager flagwright-analysis): the last " +
        "cumulative reading and running sums over the time slices between readings, so a new leader resumes it.",
      properties: {
        stepStartedAt: time("The step it belongs to."),
        readAt: time("When the reading was taken."),
        reading: {
          type: "object",
          description: "Counts since the step began, as last read.",
          properties: Object.fromEntries(
            ["onRequests", "onErrors", "offRequests", "offErrors"].map((k) => [k, { type: "number" }]),
          ),
        },
        tally: {
          type: "object",
          description:
            "Running sums over the step's time slices (src/rollout/cohort-statistics.ts CohortTally).",
          properties: Object.fromEntries(
            [...COHORT_TALLY_SUMS, "mixingVariance"].map((k) => [k, { type: "number" }]),
          ),
        },
      },
    },
    pushedAlert: analysisOutcome(
      "The latest Alertmanager push that matched this flag, recorded by whichever replica received it before answering (field manager flagwright-alerts).",
    ),
  },
};

export const featureFlagSchema: JSONSchema = {
  type: "object",
  required: ["spec"],
  properties: {
    apiVersion: { type: "string" },
    kind: { type: "string" },
    metadata: { type: "object" },
    spec,
    status,
  },
};

export const printerColumns = [
  { name: "Key", type: "string", jsonPath: ".spec.key" },
  { name: "Enabled", type: "boolean", jsonPath: ".spec.enabled" },
  { name: "Target %", type: "number", jsonPath: ".spec.rollout.percent" },
  { name: "Current %", type: "number", jsonPath: ".status.currentPercent" },
  { name: "Phase", type: "string", jsonPath: ".status.phase" },
  { name: "Next Change", type: "string", jsonPath: ".status.nextScheduledChange" },
  { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
] as const;

/** The CustomResourceDefinition as an object; crds/ holds its YAML rendering. */
export function customResourceDefinition() {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${PLURAL}.${GROUP}`,
      labels: { "app.kubernetes.io/name": "flagwright", "app.kubernetes.io/part-of": "flagwright" },
    },
    spec: {
      group: GROUP,
      scope: "Namespaced",
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: "featureflag",
        shortNames: ["ff", "flag"],
        categories: ["flagwright"],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: printerColumns,
          schema: { openAPIV3Schema: featureFlagSchema },
        },
      ],
    },
  };
}

// --- Segment (issue 18): a reusable audience that rules name in `segments`. ---
export const SEGMENT_KIND = "Segment";
export const SEGMENT_PLURAL = "segments";

const segmentKeys = (description: string): JSONSchema => ({
  type: "array",
  description,
  maxItems: 10000,
  "x-kubernetes-list-type": "set",
  items: { type: "string", minLength: 1, maxLength: 256 },
});

const segmentSpec: JSONSchema = {
  type: "object",
  description:
    "A reusable audience: a context belongs to it when its targeting key is included, or when it is not " +
    "excluded and `when` is true.",
  properties: {
    description: { type: "string", maxLength: 1024, description: "Who the segment holds." },
    owner: { type: "string", maxLength: 256, description: "Team or person responsible for the segment." },
    when: when("CEL expression over the evaluation context, as in a rule's when."),
    included: segmentKeys("Targeting keys that always belong to the segment."),
    excluded: segmentKeys("Targeting keys that never belong to the segment (wins over when)."),
  },
  "x-kubernetes-validations": [
    {
      rule: "has(self.when) || has(self.included)",
      message: "a segment needs when, included, or both",
    },
  ],
};

export const segmentSchema: JSONSchema = {
  type: "object",
  required: ["spec"],
  properties: {
    apiVersion: { type: "string" },
    kind: { type: "string" },
    metadata: { type: "object" },
    spec: segmentSpec,
  },
};

/** The Segment CustomResourceDefinition; crds/segments.flagwright.dev.yaml holds its YAML rendering. */
export function segmentCustomResourceDefinition() {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${SEGMENT_PLURAL}.${GROUP}`,
      labels: { "app.kubernetes.io/name": "flagwright", "app.kubernetes.io/part-of": "flagwright" },
    },
    spec: {
      group: GROUP,
      scope: "Namespaced",
      names: {
        kind: SEGMENT_KIND,
        listKind: `${SEGMENT_KIND}List`,
        plural: SEGMENT_PLURAL,
        singular: "segment",
        shortNames: ["seg"],
        categories: ["flagwright"],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          additionalPrinterColumns: [
            { name: "When", type: "string", jsonPath: ".spec.when" },
            { name: "Owner", type: "string", jsonPath: ".spec.owner" },
            { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
          ],
          schema: { openAPIV3Schema: segmentSchema },
        },
      ],
    },
  };
}
