// What the sidecar logs about the document it serves (loaded, revision mismatch, rejected), in the
// project's log vocabulary: `reason`, `namespace`, `err`.
import type { Logger } from "pino";
import type { DocumentStore } from "../source/store.js";

export function logDocumentChanges(store: DocumentStore, log: Logger): void {
  store.listen({
    loaded(doc, previous) {
      log.info(
        {
          reason: "DocumentLoaded",
          namespace: doc.document.namespace,
          revision: doc.document.revision,
          previousRevision: previous?.document.revision,
          flags: doc.compiled.flags.size,
          origin: doc.origin,
        },
        "flag document loaded",
      );
    },
    revisionMismatch(doc, declaredRevision) {
      log.warn(
        {
          reason: "DocumentRevisionMismatch",
          namespace: doc.document.namespace,
          declaredRevision,
          revision: doc.document.revision,
          origin: doc.origin,
        },
        "the document's revision does not match its content; serving it under the revision of its content",
      );
    },
    failed(kind, origin, error) {
      log.error(
        {
          reason: "DocumentRejected",
          kind,
          origin,
          err: error.message,
          servingRevision: store.current?.document.revision,
        },
        "new flag document rejected; still serving the last good one",
      );
    },
  });
}
