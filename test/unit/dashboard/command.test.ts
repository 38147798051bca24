// `kubectl flagwright dashboard`'s listen flags: a non-loopback --address is refused before
// anything starts unless --insecure-listen-any is given, which prints a warning; --help says so.
import { afterEach, describe, expect, it, vi } from "vitest";
import { runPlugin } from "../../../src/cli/kubectl-plugin/program.js";

afterEach(() => {
  vi.restoreAllMocks();
});

/** runPlugin with its output and anything written to process.stderr collected. */
async function run(args: string[]) {
  let out = "";
  let err = "";
  let stderr = "";
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  const code = await runPlugin(args, {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
  });
  vi.restoreAllMocks();
  return { code, out, err, stderr };
}

describe("kubectl flagwright dashboard --address", () => {
  it("refuses a non-loopback address without --insecure-listen-any, naming the flag", async () => {
    for (const address of ["0.0.0.0", "::", "10.0.0.5"]) {
      const { code, err } = await run(["--kubeconfig", "/nonexistent", "dashboard", "--address", address]);
      expect(code, address).toBe(1);
      expect(err, address).toContain(`--address ${address} is not a loopback address`);
      expect(err, address).toContain("--insecure-listen-any");
      // Refused before the kubeconfig was even read.
      expect(err, address).not.toContain("/nonexistent");
    }
  });

  it("with --insecure-listen-any, warns on stderr before starting", async () => {
    // The missing kubeconfig stops it right after the warning, before it binds anything.
    const { code, err, stderr } = await run([
      "--kubeconfig",
      "/nonexistent",
      "dashboard",
      "--address",
      "0.0.0.0",
      "--port",
      "0",
      "--insecure-listen-any",
    ]);
    expect(stderr).toMatch(/^warning: --insecure-listen-any: the dashboard listens on 0\.0\.0\.0/);
    expect(code).toBe(1);
    expect(err).toContain("/nonexistent");
  });

  it("--help explains the flag and the one-time login URL", async () => {
    const { out } = await run(["dashboard", "--help"]);
    expect(out).toContain("--insecure-listen-any");
    expect(out).toContain("non-loopback");
    expect(out).toContain("works only once");
  });
});
