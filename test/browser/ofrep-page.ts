/// <reference lib="dom" />
// The page of the browser test (test/integration/browser/ofrep-web.test.ts), bundled with esbuild:
// the real @openfeature/web-sdk with @openfeature/ofrep-web-provider against the sidecar, polling
// off, so a change can only arrive through the OFREP event stream. It records, in page time
// (epoch ms), every value the flag takes.
import { OFREPWebProvider } from "@openfeature/ofrep-web-provider";
import { OpenFeature, ProviderEvents } from "@openfeature/web-sdk";

interface Seen {
  value: boolean;
  at: number;
}

declare global {
  interface Window {
    flagwright: {
      start(baseUrl: string, flag: string, targetingKey: string): Promise<boolean>;
      seen: Seen[];
    };
  }
}

const now = () => performance.timeOrigin + performance.now();

window.flagwright = {
  seen: [],
  async start(baseUrl, flag, targetingKey) {
    const record = () => {
      const value = OpenFeature.getClient().getBooleanValue(flag, false);
      const last = window.flagwright.seen.at(-1);
      if (last === undefined || last.value !== value) window.flagwright.seen.push({ value, at: now() });
    };
    OpenFeature.addHandler(ProviderEvents.ConfigurationChanged, record);
    await OpenFeature.setContext({ targetingKey });
    await OpenFeature.setProviderAndWait(
      new OFREPWebProvider({ baseUrl, pollInterval: 0, cacheMode: "network-first" }),
    );
    record();
    return OpenFeature.getClient().getBooleanValue(flag, false);
  },
};
