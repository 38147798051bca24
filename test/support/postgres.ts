// A real PostgreSQL (Debian's `postgresql` package) for tests: a fresh cluster made by initdb in a
// temporary folder, listening on 127.0.0.1 on a free port with its Unix socket in the same folder,
// password (SCRAM) authentication over TCP, stopped and removed by dispose(). PostgreSQL refuses to
// run as root: as root the cluster belongs to the package's `postgres` system user.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  createWriteStream,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres, { type Sql } from "postgres";
import { freePort } from "./prometheus.js";
import { waitFor } from "./wait.js";

/** The newest installed server's bin folder (/usr/lib/postgresql/<major>/bin). */
export function postgresBinDir(): string {
  const root = "/usr/lib/postgresql";
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((d) => existsSync(join(root, d, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (majors[0] === undefined)
    throw new Error(`no PostgreSQL server under ${root}: apt-get install postgresql (as .ci/run does)`);
  return join(root, majors[0], "bin");
}

export interface PostgresHandle {
  port: number;
  /** postgres:// URL of the superuser. */
  adminUrl: string;
  /** A connection as the superuser. */
  admin: Sql;
  /** postgres:// URL for a role made with `createRole`. */
  urlFor(role: string, password: string): string;
  /** Stops the server (fast shutdown) and removes its folder. */
  dispose(): Promise<void>;
  logTail(): string;
}

const ADMIN = "flagwright_admin";

export async function startPostgres(): Promise<PostgresHandle> {
  const bin = postgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), "flagwright-postgres-"));
  const data = join(dir, "data");
  const password = `admin-${Math.random().toString(36).slice(2)}`;
  const pwfile = join(dir, "pwfile");
  writeFileSync(pwfile, `${password}\n`);
  const asRoot = process.getuid?.() === 0;
  let ids: { uid: number; gid: number } | undefined;
  if (asRoot) {
    ids = {
      uid: Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim()),
      gid: Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim()),
    };
    chownSync(dir, ids.uid, ids.gid);
    chownSync(pwfile, ids.uid, ids.gid);
  }
  chmodSync(dir, 0o700);
  execFileSync(
    join(bin, "initdb"),
    [
      "-D",
      data,
      "-U",
      ADMIN,
      "--pwfile",
      pwfile,
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      "-E",
      "UTF8",
      "--no-instructions",
    ],
    { stdio: "pipe", ...ids },
  );
  const port = await freePort();
  const logFile = join(dir, "postgres.log");
  const log = createWriteStream(logFile);
  const child: ChildProcess = spawn(
    join(bin, "postgres"),
    ["-D", data, "-h", "127.0.0.1", "-p", String(port), "-k", dir, "-c", "max_connections=50"],
    // Its own process group, so a forced stop also ends the backends (a SIGKILLed postmaster
    // leaves them running, e.g. one still inside a long SELECT).
    { stdio: ["ignore", "pipe", "pipe"], detached: true, ...ids },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const logTail = () =>
    existsSync(logFile) ? readFileSync(logFile, "utf8").split("\n").slice(-30).join("\n") : "";
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // SIGINT: fast shutdown (rolls back open transactions, closes sessions).
    child.kill("SIGINT");
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    }, 10_000);
    await exited;
    clearTimeout(timer);
  };
  const urlFor = (role: string, pw: string) =>
    `postgres://${encodeURIComponent(role)}:${encodeURIComponent(pw)}@127.0.0.1:${port}/postgres`;
  const adminUrl = urlFor(ADMIN, password);
  const admin = postgres(adminUrl, { max: 2, onnotice: () => {} });
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`postgres exited ${child.exitCode}`);
        await admin`SELECT 1`;
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `PostgreSQL on 127.0.0.1:${port}` },
    );
  } catch (error) {
    await admin.end({ timeout: 1 }).catch(() => {});
    await stop();
    throw new Error(`PostgreSQL did not start: ${(error as Error).message}\n${logTail()}`);
  }
  return {
    port,
    adminUrl,
    admin,
    urlFor,
    logTail,
    async dispose() {
      await admin.end({ timeout: 5 }).catch(() => {});
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
