// Follows a document file, typically a ConfigMap mounted as a volume. The kubelet updates such a
// volume atomically: it writes a new `..<timestamp>` directory, points a temporary symlink at it
// and renames that over `..data`; `flags.json` itself is a symlink to `..data/flags.json`. Reading
// `<dir>/flags.json` therefore opens either the old or the new file, both complete, and an open
// file stays readable after the kubelet deletes the old directory. We watch the directory (inotify
// sees the rename), re-read on every event, and poll as a safety net for missed events.
import { type FSWatcher, watch as fsWatch } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";

export interface FileSourceOptions {
  /** A directory (mounted ConfigMap volume) or the document file itself. */
  path: string;
  /** File name inside a directory path. Default: flags.json. */
  key?: string;
  /** Re-read interval in case a change event is missed; 0 disables polling. Default 5000. */
  pollIntervalMs?: number;
  onText(text: string, origin: string): void;
  onError(error: Error, origin: string): void;
}

export class FileSource {
  readonly #opts: FileSourceOptions;
  #file = "";
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #dirty = false;
  #stopped = false;
  #lastText: string | undefined;
  #lastError = "";

  constructor(opts: FileSourceOptions) {
    this.#opts = opts;
  }

  /** Resolves after the first read attempt (successful or not). */
  async start(): Promise<void> {
    const { path, key = "flags.json", pollIntervalMs = 5000 } = this.#opts;
    let watchDir: string;
    try {
      const isDir = (await stat(path)).isDirectory();
      this.#file = isDir ? join(path, key) : path;
      watchDir = isDir ? path : dirname(path);
    } catch {
      // Not there yet: assume a file path and let polling find it.
      this.#file = path;
      watchDir = dirname(path);
    }
    try {
      this.#watcher = fsWatch(watchDir, { persistent: false }, () => this.refresh());
      this.#watcher.on("error", (error) => this.#opts.onError(error, this.#file));
    } catch (error) {
      this.#opts.onError(error as Error, watchDir);
    }
    if (pollIntervalMs > 0) {
      this.#timer = setInterval(() => this.refresh(), pollIntervalMs);
      this.#timer.unref();
    }
    await this.refresh();
  }

  /** Re-reads the file; concurrent calls coalesce into at most one more read. */
  refresh(): Promise<void> {
    this.#dirty = true;
    if (this.#running === undefined) {
      this.#running = this.#drain().finally(() => {
        this.#running = undefined;
      });
    }
    return this.#running;
  }

  async #drain(): Promise<void> {
    while (this.#dirty && !this.#stopped) {
      this.#dirty = false;
      await this.#readOnce();
    }
  }

  async #readOnce(): Promise<void> {
    let text: string;
    try {
      text = await this.#read();
    } catch (error) {
      // Report each distinct error once, not on every poll.
      const message = (error as Error).message;
      if (message !== this.#lastError) this.#opts.onError(error as Error, this.#file);
      this.#lastError = message;
      return;
    }
    this.#lastError = "";
    if (text === this.#lastText) return;
    this.#lastText = text;
    this.#opts.onText(text, this.#file);
  }

  async #read(): Promise<string> {
    try {
      return await readFile(this.#file, "utf8");
    } catch (error) {
      // Resolving `..data` just before the kubelet removed the old directory: the next
      // resolution finds the new one.
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return await readFile(this.#file, "utf8");
      throw error;
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watcher?.close();
    if (this.#timer) clearInterval(this.#timer);
    await this.#running;
  }
}
