// How many experiment events one sidecar's batcher gets into PostgreSQL per second, and how long a
// batch write takes: a fresh PostgreSQL (test/support/postgres.ts), the sidecar's writer and
// batcher (default bound and flush interval), events offered as fast as the batcher takes them
// (an offer refused by back-pressure waits for the next write). Then the per-user aggregate's
// time over what was written.
//
//   node --import tsx bench/event-store.ts [--events 200000]
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import {
  EVENTS_SCHEMA,
  type ExperimentEvent,
  postgresEventReader,
  postgresEventWriter,
} from "../src/experiment/event-store.js";
import { EventBatcher } from "../src/sidecar/event-batcher.js";
import { startPostgres } from "../test/support/postgres.js";

const { values } = parseArgs({ options: { events: { type: "string", default: "200000" } } });
const total = Number(values.events);
const pg = await startPostgres();
try {
  for (const statement of EVENTS_SCHEMA.split(/;\s*\n/).map((s) => s.trim()))
    if (statement) await pg.admin.unsafe(statement);
  const writer = await postgresEventWriter(pg.adminUrl);
  const writes: number[] = [];
  const batcher = new EventBatcher<ExperimentEvent>({
    write: (batch) => writer.insert(batch),
    onWritten: (_batch, seconds) => writes.push(seconds * 1000),
  });
  let refused = 0;
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const event: ExperimentEvent = {
      id: randomUUID(),
      kind: i % 10 === 0 ? "conversion" : "exposure",
      name: i % 10 === 0 ? "purchase" : "feature_flag.evaluation",
      time: new Date(),
      namespace: "bench",
      flag: "checkout",
      variant: i % 2 === 0 ? "control" : "treatment",
      contextId: `user-${i % 50_000}`,
    };
    while (!batcher.offer(event)) {
      refused++;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  await batcher.close(60_000);
  const seconds = (performance.now() - started) / 1000;
  await writer.close();
  writes.sort((a, b) => a - b);
  const q = (p: number) => writes[Math.min(writes.length - 1, Math.floor(p * writes.length))]?.toFixed(1);
  console.log(
    `${total} events in ${seconds.toFixed(1)} s: ${Math.round(total / seconds)} events/s; ${writes.length} batch writes (mean ${Math.round(total / writes.length)} events), write time p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${q(1)} ms; offers refused while full: ${refused}`,
  );
  const reader = await postgresEventReader(pg.adminUrl);
  const t0 = performance.now();
  const arms = await reader.userAggregate("bench", "checkout", "purchase");
  console.log(
    `per-user aggregate over ${total} rows (50,000 users): ${(performance.now() - t0).toFixed(0)} ms; ${JSON.stringify(arms)}`,
  );
  await reader.close();
} finally {
  await pg.dispose();
}
