// The experiment event store: exposures and conversions as events, one row each, and the per-user
// aggregate the analysis reads. PostgreSQL is the reference store; the table and the aggregate are
// plain SQL (no upserts, no PostgreSQL functions), so the same query runs on ClickHouse or a
// warehouse where users outgrow one database (docs/experiments.md says what differs there).
//
// Events follow the OpenTelemetry `feature_flag.evaluation` event (an exposure: flag key, variant,
// context id) and OpenFeature's `track` (a conversion: event name, context id, optional value).
// Sidecars insert them as they happen, duplicates and all: a user routed to several pods, or seen
// again after a restart, has several exposure rows. The aggregate counts each user once per flag,
// in the arm of their first exposure, so duplicates change no count.
import type { Sql } from "postgres";

export const EVENTS_TABLE = "flagwright_events";
export const EXPOSURE_EVENT = "feature_flag.evaluation";

export interface ExperimentEvent {
  /** Random per event: a batch retried after an unknown outcome does not insert it twice. */
  id: string;
  kind: "exposure" | "conversion";
  /** feature_flag.evaluation for exposures, the tracking event's name for conversions. */
  name: string;
  time: Date;
  namespace: string;
  /** feature_flag.key */
  flag: string;
  /** feature_flag.result.variant (for conversions: the user's variant when it was tracked). */
  variant: string;
  /** feature_flag.context.id: the targeting key, HMAC-hashed under the install's exposure key. */
  contextId: string;
  /** The tracking event's value (OpenFeature trackingEventDetails.value), conversions only. */
  value?: number | undefined;
}

/**
 * The table (portable column types). The primary key keeps a retried batch from inserting twice;
 * the index serves the aggregate's filter and join.
 */
export const EVENTS_SCHEMA = `
CREATE TABLE IF NOT EXISTS ${EVENTS_TABLE} (
  event_id    VARCHAR(64)  NOT NULL PRIMARY KEY,
  kind        VARCHAR(16)  NOT NULL,
  event_name  VARCHAR(256) NOT NULL,
  occurred_at TIMESTAMP WITH TIME ZONE NOT NULL,
  namespace   VARCHAR(253) NOT NULL,
  flag_key    VARCHAR(256) NOT NULL,
  variant     VARCHAR(256) NOT NULL,
  context_id  VARCHAR(64)  NOT NULL,
  value       DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS ${EVENTS_TABLE}_by_flag_user ON ${EVENTS_TABLE} (namespace, flag_key, kind, context_id);
`;

/**
 * Per-user aggregate for one flag and conversion event, by arm: users (each once, in the arm of
 * their first exposure; ties broken by event id so every store picks the same row), users with at
 * least one conversion at or after their first exposure, conversion events, and their value.
 * One scan, window functions and GROUP BY, no join: a join of exposures with conversions was
 * planned as a nested loop on a freshly loaded table (no statistics yet) and took minutes at
 * 100,000 events. Parameters: $1 namespace, $2 flag key, $3 conversion event name.
 */
export const USER_AGGREGATE_SQL = `
WITH events AS (
  SELECT context_id, kind, variant, value, occurred_at,
         ROW_NUMBER() OVER (PARTITION BY context_id, kind ORDER BY occurred_at, event_id) AS nth,
         MIN(CASE WHEN kind = 'exposure' THEN occurred_at END) OVER (PARTITION BY context_id) AS exposed_at
  FROM ${EVENTS_TABLE}
  WHERE namespace = $1 AND flag_key = $2
    AND (kind = 'exposure' OR (kind = 'conversion' AND event_name = $3))
),
users AS (
  SELECT context_id,
         MAX(CASE WHEN kind = 'exposure' AND nth = 1 THEN variant END) AS variant,
         SUM(CASE WHEN kind = 'conversion' AND occurred_at >= exposed_at THEN 1 ELSE 0 END) AS conversions,
         SUM(CASE WHEN kind = 'conversion' AND occurred_at >= exposed_at THEN value END) AS value
  FROM events
  GROUP BY context_id
)
SELECT variant,
       COUNT(*) AS users,
       SUM(CASE WHEN conversions > 0 THEN 1 ELSE 0 END) AS converted_users,
       SUM(conversions) AS conversion_events,
       COALESCE(SUM(value), 0) AS conversion_value
FROM users
WHERE variant IS NOT NULL
GROUP BY variant
`;

export interface ArmAggregate {
  variant: string;
  /** Users whose first exposure was to this arm. */
  users: number;
  /** Of those, users with at least one conversion after their first exposure. */
  convertedUsers: number;
  conversionEvents: number;
  conversionValue: number;
}

/** Reads the per-user aggregate of a flag's experiment. */
export interface ExperimentEventReader {
  userAggregate(namespace: string, flag: string, conversionEvent: string): Promise<ArmAggregate[]>;
  close(): Promise<void>;
}

/** Writes a batch of events (all or none). */
export interface ExperimentEventWriter {
  insert(events: readonly ExperimentEvent[]): Promise<void>;
  close(): Promise<void>;
}

/** Checks an event store URL; a message naming `field` when it is not a PostgreSQL URL. */
export function eventStoreUrlProblem(url: string, field: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `${field} is not a URL (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE)`;
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:")
    return `${field} must be a postgres:// or postgresql:// URL, not ${parsed.protocol}//`;
  if (parsed.hostname === "" && !parsed.searchParams.has("host"))
    return `${field} names no host (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE)`;
  return undefined;
}

async function connect(url: string, options: { max: number; timeoutSeconds: number }): Promise<Sql> {
  // Loaded on use: a sidecar or operator without an event store never loads the client.
  const { default: postgres } = await import("postgres");
  return postgres(url, {
    max: options.max,
    connect_timeout: options.timeoutSeconds,
    idle_timeout: 60,
    // The server's notices (e.g. "relation already exists") are not the application's log.
    onnotice: () => {},
  });
}

/** The operator's reader: credentials that may SELECT every namespace's events (the admin's). */
export async function postgresEventReader(url: string, timeoutSeconds = 10): Promise<ExperimentEventReader> {
  const sql = await connect(url, { max: 2, timeoutSeconds });
  return {
    async userAggregate(namespace, flag, conversionEvent) {
      const rows = await sql.unsafe(USER_AGGREGATE_SQL, [namespace, flag, conversionEvent]);
      return rows.map((r) => ({
        variant: String(r.variant),
        users: Number(r.users),
        convertedUsers: Number(r.converted_users),
        conversionEvents: Number(r.conversion_events),
        conversionValue: Number(r.conversion_value),
      }));
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

/**
 * A sidecar's writer: credentials that may only INSERT rows of its own namespace. The primary key
 * makes a retried batch idempotent (the write side's one PostgreSQL-specific clause; a warehouse
 * deduplicates by event_id on load instead).
 */
export async function postgresEventWriter(url: string, timeoutSeconds = 10): Promise<ExperimentEventWriter> {
  const sql = await connect(url, { max: 1, timeoutSeconds });
  return {
    async insert(events) {
      if (events.length === 0) return;
      const rows = events.map((e) => ({
        event_id: e.id,
        kind: e.kind,
        event_name: e.name,
        occurred_at: e.time,
        namespace: e.namespace,
        flag_key: e.flag,
        variant: e.variant,
        context_id: e.contextId,
        value: e.value ?? null,
      }));
      await sql`INSERT INTO ${sql(EVENTS_TABLE)} ${sql(rows)} ON CONFLICT (event_id) DO NOTHING`;
    },
    close: () => sql.end({ timeout: 5 }),
  };
}
