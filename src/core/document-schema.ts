// The JSON schema of the resolved flag document (docs/document-format.md). parseDocument checks it
// through document-validator.generated.ts, which `npm run generate` compiles from this object.
// Additional properties are allowed everywhere: additive fields from newer writers are ignored.
export const documentSchema = {
  type: "object",
  required: ["version", "revision", "namespace", "flags"],
  properties: {
    version: { type: "integer", minimum: 1 },
    revision: { type: "string", minLength: 1 },
    namespace: { type: "string" },
    generatedAt: { type: "string" },
    flags: {
      type: "object",
      propertyNames: { minLength: 1 },
      additionalProperties: {
        type: "object",
        required: ["enabled", "killed", "percent", "allowedUsers", "revision"],
        properties: {
          enabled: { type: "boolean" },
          killed: { type: "boolean" },
          percent: { type: "number", minimum: 0, maximum: 100 },
          allowedUsers: { type: "array", items: { type: "string", minLength: 1 } },
          variants: {
            type: "array",
            minItems: 1,
            items: {
              type: "object",
              required: ["name", "weight"],
              properties: {
                name: { type: "string", minLength: 1 },
                weight: { type: "integer", minimum: 0, maximum: 100 },
                value: {},
              },
            },
          },
          defaultValue: {},
          rules: {
            type: "array",
            items: {
              type: "object",
              required: ["name", "serve"],
              properties: {
                name: { type: "string", minLength: 1 },
                when: { type: "string", minLength: 1 },
                segments: { type: "array", items: { type: "string", minLength: 1 } },
                serve: {
                  type: "object",
                  minProperties: 1,
                  maxProperties: 1,
                  properties: {
                    enabled: { type: "boolean" },
                    variant: { type: "string", minLength: 1 },
                    percent: { type: "number", minimum: 0, maximum: 100 },
                  },
                },
              },
            },
          },
          prerequisites: {
            type: "array",
            items: {
              type: "object",
              required: ["flag"],
              properties: {
                flag: { type: "string", minLength: 1 },
                variant: { type: "string", minLength: 1 },
              },
            },
          },
          revision: { type: "string" },
        },
      },
    },
    segments: {
      type: "object",
      additionalProperties: {
        type: "object",
        required: ["included", "excluded"],
        properties: {
          when: { type: "string", minLength: 1 },
          included: { type: "array", items: { type: "string" } },
          excluded: { type: "array", items: { type: "string" } },
        },
      },
    },
  },
} as const;
