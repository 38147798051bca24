// Every runtime value the project takes from @kubernetes/client-node, in one module. The package's
// index (and its KubeConfig, through config.js) loads all ~200 generated API classes and ~700
// models: 76 MiB of RSS before the first request. `npm run build` replaces this module's output
// with an esbuild bundle of just these names (scripts/bundle.ts), about 20 MiB; under tsx
// and vitest it is the package itself. Types still come from the package directly.
export {
  AdmissionregistrationV1Api,
  ApiException,
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  Watch,
} from "@kubernetes/client-node";
