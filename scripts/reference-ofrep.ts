// The "OFREP conformance" section of docs/reference.md (rendered by render-api.ts): what the
// sidecar answers over OFREP, case by case, and where it departs from the protocol on purpose.
// test/unit/sidecar/ofrep-conformance.test.ts and ofrep-providers-agree.test.ts check every row.
export const OFREP_CONFORMANCE_SECTION = `# OFREP conformance

The sidecar serves the OpenFeature Remote Evaluation Protocol **0.3.0**
(\`service/openapi.yaml\` of open-feature/protocol; the copy the tests apply, and where it comes
from, is \`test/fixtures/ofrep/\`). Every answer below is checked against that document's schemas
for single and bulk evaluation (\`test/unit/sidecar/ofrep-conformance.test.ts\`), and through the
JS OFREP provider against the in-process \`FlagwrightProvider\`, which reports the same reasons
and errors (\`test/unit/sidecar/ofrep-providers-agree.test.ts\`).

## Reasons

Every success carries \`key\`, \`reason\` and \`value\`; the reason is one of the four OFREP 0.3.0
lists that apply. The detail OFREP has no reason for travels in \`metadata\` (an extension:
\`rule\`, \`prerequisite\`, \`killed\`, besides \`flagRevision\` and \`documentRevision\`).

| case | value | reason | metadata |
| --- | --- | --- | --- |
| plain flag at 100 % (also a stale one: staleness is status, not evaluation) | \`true\` | STATIC | |
| percent 0, or no rule matched with percent 0 (a rolled-out-to-nobody flag) | off value | STATIC | |
| percent rollout, user in or out; a variant flag's split at any percent | on / off value, the user's variant | SPLIT | |
| user in \`allowedUsers\` | on value | TARGETING_MATCH | |
| a rule matched: serving on, off, a variant, or its percentage (in or out) | what it serves | TARGETING_MATCH | \`rule\` |
| a prerequisite is not served for this context | off value | TARGETING_MATCH | \`prerequisite\` |
| disabled; killed or rolled back | off value | DISABLED | \`killed: true\` when killed or rolled back |

Decisions, against OpenFeature's own list (which has DEFAULT, ERROR, CACHED, STALE, ...):

- **Percent 0 is STATIC, not DEFAULT.** OpenFeature's STATIC is "no dynamic evaluation", which is
  what a 0 % rollout is: everyone gets the same off value, the mirror of 100 %'s STATIC on. OFREP
  0.3.0 does not list DEFAULT. (Before: DEFAULT.)
- **A failed prerequisite is TARGETING_MATCH with \`metadata.prerequisite\`.** A prerequisite is a
  per-context condition like a rule (the prerequisite flag may itself split or target), and a
  rule serving off is TARGETING_MATCH too. PREREQUISITE_FAILED, sent before, is in neither
  OpenFeature's nor OFREP's list; the flag it names is in the metadata. It also broke a real
  client: the Python OFREP provider (0.3.0) looks the reason up in its enum, so a flag held off
  by a prerequisite reached Python applications as GENERAL with the caller's default (\`true\`
  for a boolean defaulting to true) instead of the flag's off value.
- **ERROR never appears in a success.** Failures are \`evaluationFailure\` / \`flagNotFound\`
  bodies (below); the in-process provider throws the matching OpenFeature error, so the SDK
  reports reason ERROR with the same code and message either way.
- UNKNOWN, CACHED and STALE are never sent (the last two are a provider's to report).

## Errors

| case | single flag | bulk | errorCode |
| --- | --- | --- | --- |
| unknown flag | 404 \`flagNotFound\` | not listed | FLAG_NOT_FOUND |
| \`targetingKey\` not a string | 400 | 400 \`bulkEvaluationFailure\` | INVALID_CONTEXT |
| \`context\` not an object, body not JSON | 400 | 400 | INVALID_CONTEXT |
| the flag needs a user and has none (absent, null or \`""\`) | 400 | item in \`flags\` | TARGETING_KEY_MISSING |
| a variant flag without \`defaultValue\` is off for this context | 500 | item in \`flags\` | GENERAL |
| prerequisites nested deeper than 8 | 500 | item in \`flags\` | GENERAL |

**A variant flag without \`defaultValue\`** has no value to serve while it is off (disabled,
killed, 0 %, outside the rollout, a rule serving off, a prerequisite not served). It answers
GENERAL, with \`errorDetails\` naming the flag and why it is off
(\`flag "banner" is off for this context (killed) and has no defaultValue to serve: ...\`); the
caller gets its own default, as before. Why GENERAL: the flag exists (not FLAG_NOT_FOUND, which
the Java OFREP provider 0.0.2 reported for the earlier 200 answer without \`value\`), the
context is fine (not INVALID_CONTEXT or TARGETING_KEY_MISSING), and no value of a wrong type was
served (TYPE_MISMATCH is the provider's to report, and OFREP dropped it from the wire since the
server never knows the caller's type). GENERAL is OpenFeature's code for a cause not enumerated,
and the only such code OFREP's \`evaluationFailure\` has. Why 500 rather than 400: the request is
not at fault, and the Java provider reads every 400 as INVALID_CONTEXT; the JS, Python and Java
providers all report a 500 as GENERAL. Not chosen: OFREP's code-default answer (a 200 without
\`value\`, ADR 0006): the providers in use do not implement it (JS 0.1.3 rejects it as an
unexpected response, Python 0.3.0 reports GENERAL without saying why, Java 0.0.2 FLAG_NOT_FOUND),
and it hides a flag that is missing its \`defaultValue\`.

## Known provider gap

The Python OFREP provider (0.3.0) reads \`variant\` unconditionally, though OFREP makes it
optional: a variant flag serving its \`defaultValue\` (which has no variant) reaches Python
applications as GENERAL with the caller's default. The JS and Java providers serve the
\`defaultValue\`. The Java provider (0.0.2) reports any 400 as INVALID_CONTEXT and a 500 as GENERAL
with its own message, without the \`errorDetails\`.

## Deviations, on purpose

- **Lenient requests.** 0.3.0 requires \`context\` and \`context.targetingKey\`. The sidecar also
  accepts a body without them (older providers, client-side providers, \`curl\`): flags that need
  no user answer (disabled, killed, 0 %, a plain flag at 100 %), the rest TARGETING_KEY_MISSING.
  A body that is no JSON object counts as an empty context.
- **Statuses the document does not list**: 401 with \`WWW-Authenticate\` when a bearer token is
  configured and missing; 405 with \`Allow\` for a wrong method; 413 for a body over the size
  limit; 503 with \`Retry-After\` and GENERAL before the first flag document has loaded. 429 (which
  the document lists for both evaluation routes) only on the single-flag route, for a flag whose
  rules recently ran out of evaluation budget with \`--max-over-budget-waiting\` of its requests
  already waiting: \`Retry-After: 1\` (seconds, where the 2024 document showed a date) and
  \`{key, errorCode: GENERAL, errorDetails}\` (docs/evaluation.md, "A lane of their own for
  over-budget flags").
- \`cacheable\` is not sent. Bulk answers carry an \`ETag\` and answer \`If-None-Match\` with 304;
  \`flagConfigEtag\` naming another configuration rules the 304 out; \`eventStreams\` lists one
  \`sse\` stream by absolute \`url\` (\`GET /ofrep/v1/events\`, whose messages carry
  \`{"type":"refetchEvaluation","etag":...,"lastModified":...}\`).
`.split("\n");
