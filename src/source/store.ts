// Holds the document being served. A new text replaces it only if it parses; otherwise the last
// good document keeps serving and the failure is reported to listeners (metrics, logs).
//
// The document's revision is what clients cache by (bulk ETags, event stream validators), so it is
// verified against the content: a document edited by hand without a new revision would otherwise
// keep answering 304 with the old answers. One whose revision does not match its content is served
// under the revision of its content, and listeners are told.
import { canonicalJson, type FlagDocument, parseDocument } from "../core/document.js";
import { type CompiledDocument, compileDocument } from "../core/evaluate.js";
import { sha256HexOfBytes } from "../core/sha256.js";

export interface LoadedDocument {
  readonly document: FlagDocument;
  readonly compiled: CompiledDocument;
  readonly text: string;
  /** Epoch milliseconds when this document started serving. */
  readonly loadedAt: number;
  readonly origin: string;
}

export type FailureKind = "read" | "parse";

export interface StoreListener {
  loaded?(doc: LoadedDocument, previous: LoadedDocument | undefined): void;
  /** A document arrived with a revision that is not its content's; `doc` carries the right one. */
  revisionMismatch?(doc: LoadedDocument, declaredRevision: string): void;
  failed?(kind: FailureKind, origin: string, error: Error): void;
}

export class DocumentStore {
  #current: LoadedDocument | undefined;
  readonly #listeners: StoreListener[] = [];

  get current(): LoadedDocument | undefined {
    return this.#current;
  }

  listen(listener: StoreListener): void {
    this.#listeners.push(listener);
  }

  /** Offers new document text; returns whether it is now serving (unchanged text counts as true). */
  offer(text: string, origin: string): boolean {
    if (this.#current !== undefined && this.#current.text === text) return true;
    let document: FlagDocument;
    let revision: string;
    try {
      document = parseDocument(text);
      revision = contentRevision(document);
    } catch (error) {
      this.fail("parse", origin, error as Error);
      return false;
    }
    const declared = document.revision;
    // Parsed documents are frozen: the corrected one is a copy sharing the flags.
    if (declared !== revision) document = Object.freeze({ ...document, revision });
    const previous = this.#current;
    this.#current = { document, compiled: compileDocument(document), text, loadedAt: Date.now(), origin };
    if (declared !== revision) for (const l of this.#listeners) l.revisionMismatch?.(this.#current, declared);
    for (const l of this.#listeners) l.loaded?.(this.#current, previous);
    return true;
  }

  /** Reports a source that could not produce document text (unreadable file, missing key, ...). */
  fail(kind: FailureKind, origin: string, error: Error): void {
    for (const l of this.#listeners) l.failed?.(kind, origin, error);
  }
}

/**
 * The revision the operator gives this content (documentRevision in core/build-document.ts: the
 * first 16 hex characters of sha256 over the canonical JSON of the flags, with the segments when
 * there are any), computed without node:crypto, which a sidecar does not load.
 */
export function contentRevision(document: FlagDocument): string {
  const segments = document.segments;
  const content =
    segments !== undefined && Object.keys(segments).length > 0
      ? { flags: document.flags, segments }
      : document.flags;
  return sha256HexOfBytes(new TextEncoder().encode(canonicalJson(content))).slice(0, 16);
}
