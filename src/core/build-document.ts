// Building the resolved document: what the operator (and the tools that write documents) add on
// top of the reader in document.ts. Kept apart so that readers (sidecars, the in-process provider)
// do not load node:crypto, which costs a sidecar about 1.2 MiB of resident memory.
import { createHash } from "node:crypto";
import {
  canonicalJson,
  DOCUMENT_VERSION,
  type FlagDocument,
  PLAIN_DOCUMENT_VERSION,
  type ResolvedFlag,
  type ResolvedSegment,
} from "./document.js";

/** Stable revision of a flags map: first 16 hex chars of sha256 over its canonical JSON. */
export function documentRevision(flags: Record<string, ResolvedFlag> | object): string {
  return createHash("sha256").update(canonicalJson(flags)).digest("hex").slice(0, 16);
}

/** Revision of one flag's resolved content (same hashing as documentRevision). */
export function flagRevision(flag: Omit<ResolvedFlag, "revision">): string {
  const { revision: _ignored, ...content } = flag as ResolvedFlag;
  return documentRevision(content);
}

/** Builds a complete document (computing its revision) from resolved flags. */
export function buildDocument(
  namespace: string,
  flags: Record<string, ResolvedFlag>,
  generatedAt?: Date,
  segments?: Record<string, ResolvedSegment>,
): FlagDocument {
  const hasSegments = segments !== undefined && Object.keys(segments).length > 0;
  const targeting =
    hasSegments || Object.values(flags).some((f) => f.rules?.length || f.prerequisites?.length);
  const doc: FlagDocument = {
    version: targeting ? DOCUMENT_VERSION : PLAIN_DOCUMENT_VERSION,
    // Segments change evaluation as much as flags do, so they are part of the revision.
    revision: hasSegments ? documentRevision({ flags, segments }) : documentRevision(flags),
    namespace,
    flags,
  };
  if (hasSegments) doc.segments = segments;
  if (generatedAt) doc.generatedAt = generatedAt.toISOString();
  return doc;
}
