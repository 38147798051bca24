// Holds the document being served. A new text replaces it only if it parses; otherwise the last
// good document keeps serving and the failure is reported to listeners (metrics, logs).
import { type FlagDocument, parseDocument } from "../core/document.js";
import { type CompiledDocument, compileDocument } from "../core/evaluate.js";

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
    try {
      document = parseDocument(text);
    } catch (error) {
      this.fail("parse", origin, error as Error);
      return false;
    }
    const previous = this.#current;
    this.#current = { document, compiled: compileDocument(document), text, loadedAt: Date.now(), origin };
    for (const l of this.#listeners) l.loaded?.(this.#current, previous);
    return true;
  }

  /** Reports a source that could not produce document text (unreadable file, missing key, ...). */
  fail(kind: FailureKind, origin: string, error: Error): void {
    for (const l of this.#listeners) l.failed?.(kind, origin, error);
  }
}
