// A Git repository served over smart HTTP on 127.0.0.1, as a Git host serves it: git's own
// `git http-backend` (CGI) behind a small Node bridge, so clients (Argo CD's repo server, the
// tests' `git push`) speak the real protocol, v2 included. Pushes are accepted without
// credentials (loopback only). `stop()` closes the server and removes the repository folders.
import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export interface GitServer {
  /** Clone URL of the repository, e.g. http://127.0.0.1:PORT/flags.git. */
  url: string;
  /** A working clone the test commits in and pushes from. */
  work: string;
  /** Runs git in the working clone; resolves with its stdout. */
  git(args: string[]): Promise<string>;
  /** Writes files (relative path → text; null deletes) in the working clone, commits and pushes. Resolves with the new commit. */
  commit(message: string, files: Record<string, string | null>): Promise<string>;
  stop(): Promise<void>;
}

const gitIdentity = {
  GIT_AUTHOR_NAME: "Flag Author",
  GIT_AUTHOR_EMAIL: "author@example.test",
  GIT_COMMITTER_NAME: "Flag Author",
  GIT_COMMITTER_EMAIL: "author@example.test",
};

function runGit(args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "git",
      args,
      // No user or system configuration leaks in (a credential helper, a URL rewrite).
      {
        cwd,
        env: { ...process.env, ...gitIdentity, GIT_CONFIG_NOSYSTEM: "1", HOME: cwd },
        maxBuffer: 16 << 20,
      },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`git ${args.join(" ")} failed: ${stderr || error.message}`));
        else resolve(stdout);
      },
    );
  });
}

/** One CGI request: the request as `git http-backend`'s environment and stdin, its output as the response. */
function serveCgi(root: string, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://localhost");
  const backend = spawn("git", ["http-backend"], {
    env: {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: "1",
      GIT_CONFIG_NOSYSTEM: "1",
      // Receive-pack is refused to anonymous users unless a user is named.
      REMOTE_USER: "flag-author",
      REMOTE_ADDR: req.socket.remoteAddress ?? "127.0.0.1",
      REQUEST_METHOD: req.method ?? "GET",
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers["content-type"] ?? "",
      ...(req.headers["content-length"] && { CONTENT_LENGTH: req.headers["content-length"] }),
      ...(req.headers["content-encoding"] && { HTTP_CONTENT_ENCODING: req.headers["content-encoding"] }),
      ...(typeof req.headers["git-protocol"] === "string" && { GIT_PROTOCOL: req.headers["git-protocol"] }),
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
  req.pipe(backend.stdin);
  backend.stdin.on("error", () => {});
  let stderr = "";
  backend.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  // CGI output: header lines, a blank line, then the body, streamed through as it comes.
  let head = Buffer.alloc(0);
  let headersSent = false;
  backend.stdout.on("data", (chunk: Buffer) => {
    if (headersSent) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf("\r\n\r\n");
    const sep = end >= 0 ? 4 : 2;
    const at = end >= 0 ? end : head.indexOf("\n\n");
    if (at < 0) return;
    let status = 200;
    for (const line of head.subarray(0, at).toString("latin1").split(/\r?\n/)) {
      const colon = line.indexOf(":");
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === "status") status = Number.parseInt(value, 10) || 500;
      else res.setHeader(name, value);
    }
    res.writeHead(status);
    headersSent = true;
    res.write(head.subarray(at + sep));
  });
  backend.on("close", (code) => {
    if (!headersSent) {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(`git http-backend exited ${code}: ${stderr}`);
      return;
    }
    res.end();
  });
}

/**
 * A bare repository `name`.git served on a free loopback port, with a working clone whose first
 * commit holds `files` on branch main.
 */
export async function startGitServer(name: string, files: Record<string, string>): Promise<GitServer> {
  const root = mkdtempSync(join(tmpdir(), "flagwright-git-"));
  const bare = join(root, `${name}.git`);
  const work = join(root, "work");
  await runGit(["init", "--quiet", "--bare", "--initial-branch=main", bare], root);
  await runGit(["config", "http.receivepack", "true"], bare);
  const server: Server = createServer((req, res) => serveCgi(root, req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/${name}.git`;
  const git = (args: string[]) => runGit(args, work);
  const commit = async (message: string, changes: Record<string, string | null>) => {
    for (const [path, text] of Object.entries(changes)) {
      const file = join(work, path);
      if (text === null) await git(["rm", "--quiet", path]);
      else {
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, text);
        await git(["add", path]);
      }
    }
    await git(["commit", "--quiet", "-m", message]);
    await git(["push", "--quiet", "origin", "main"]);
    return (await git(["rev-parse", "HEAD"])).trim();
  };
  try {
    await runGit(["clone", "--quiet", url, work], root);
    await git(["checkout", "--quiet", "-B", "main"]);
    await commit("Initial flags", files);
  } catch (error) {
    await new Promise((resolve) => server.close(resolve));
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
  return {
    url,
    work,
    git,
    commit,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
