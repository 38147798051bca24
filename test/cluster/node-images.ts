// The images a node run needs, built by the project's own scripts with podman and imported into
// the node's containerd: the Flagwright image from the Dockerfile (scripts/image.ts) and the small
// application of test/fixtures/node-app on the same runtime base.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildImage, ensureBases, PODMAN, run, ULIMITS } from "../../scripts/image.js";
import type { RunningNode } from "./node.js";

const appDir = fileURLToPath(new URL("../fixtures/node-app/", import.meta.url));
export const APP_IMAGE = "localhost/flagwright-node-app:dev";

type Log = (line: string) => void;

/** Builds the node application's image (a few seconds once the runtime base exists). */
export async function buildAppImage(log: Log = () => {}): Promise<string> {
  const { runtime } = await ensureBases(log);
  const built = await run([
    ...PODMAN,
    "build",
    "--pull=never",
    ...ULIMITS,
    "--build-arg",
    `RUNTIME_IMAGE=${runtime}`,
    "--tag",
    APP_IMAGE,
    "--file",
    join(appDir, "Containerfile"),
    appDir,
  ]);
  if (built.code !== 0) throw new Error(`building ${APP_IMAGE} failed: ${built.stderr.slice(-2000)}`);
  return APP_IMAGE;
}

/**
 * Builds the Flagwright image as `tag` and the application image, and imports both into the
 * node's containerd (pods use them with imagePullPolicy Never: there is no registry).
 */
export async function loadNodeImages(
  node: Pick<RunningNode, "importImage">,
  options: { tag: string; log?: Log },
): Promise<{ flagwright: string; app: string }> {
  const log = options.log ?? (() => {});
  const flagwright = await buildImage({ tag: `localhost/flagwright:${options.tag}`, log });
  const app = await buildAppImage(log);
  await node.importImage(flagwright);
  await node.importImage(app);
  return { flagwright, app };
}
