// Validates rendered Kubernetes manifests offline (scripts/manifests-test.sh).
//
//   node validate.mjs FILE...      (each FILE a multi-document YAML stream, `-` for stdin)
//
// 1. Schema: every object against the Kubernetes OpenAPI schema of its apiVersion and kind,
//    with the validators that the npm package kubernetes-models generates from that schema
//    (types, required fields, enums, formats; installed by npm, no network at run time).
//    An apiVersion/kind the package does not know is an error, never skipped. Like kubeconform
//    without -strict, the upstream schema does not reject unknown fields.
// 2. Policy, the guarantees docs/kubernetes.md makes: every container and init container runs
//    as non-root with a read-only root filesystem, no privilege escalation, every capability
//    dropped and the RuntimeDefault seccomp profile; gRPC probes on TokenService and on the
//    verifier sidecar, which is a native sidecar (init container, restartPolicy Always).
// Prints one line per object and exits 1 if any object fails.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node validate.mjs FILE... (- for stdin)");
  process.exit(2);
}

function policyErrors(obj) {
  const errors = [];
  const podSpec =
    obj.kind === "Pod" ? obj.spec : obj.spec?.template?.spec ?? obj.spec?.jobTemplate?.spec?.template?.spec;
  if (!podSpec || !Array.isArray(podSpec.containers)) return errors;
  const podSc = podSpec.securityContext ?? {};
  const all = [
    ...(podSpec.initContainers ?? []).map((c) => ["initContainer", c]),
    ...podSpec.containers.map((c) => ["container", c]),
  ];
  for (const [where, c] of all) {
    const sc = c.securityContext ?? {};
    const name = `${where} ${c.name}`;
    if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) errors.push(`${name}: runAsNonRoot is not true`);
    const uid = sc.runAsUser ?? podSc.runAsUser;
    if (uid === 0) errors.push(`${name}: runAsUser is 0`);
    if (sc.readOnlyRootFilesystem !== true) errors.push(`${name}: readOnlyRootFilesystem is not true`);
    if (sc.allowPrivilegeEscalation !== false) errors.push(`${name}: allowPrivilegeEscalation is not false`);
    if (sc.privileged === true) errors.push(`${name}: privileged`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) errors.push(`${name}: capabilities.drop lacks ALL`);
    if ((sc.capabilities?.add ?? []).length > 0) errors.push(`${name}: capabilities.add is not empty`);
    const seccomp = sc.seccompProfile?.type ?? podSc.seccompProfile?.type;
    if (seccomp !== "RuntimeDefault") errors.push(`${name}: seccompProfile is not RuntimeDefault`);
  }
  const grpcProbes = (c) =>
    ["readinessProbe", "livenessProbe"].filter((p) => !c[p]?.grpc).map((p) => `${p} is not a gRPC probe`);
  for (const c of podSpec.containers) {
    if (c.command?.[0]?.endsWith("/token_service")) {
      errors.push(...grpcProbes(c).map((e) => `container ${c.name}: ${e}`));
    }
    if (c.command?.[0]?.endsWith("/token_verifier")) {
      errors.push(`container ${c.name}: the verifier must be a native sidecar (initContainer, restartPolicy Always)`);
    }
  }
  for (const c of podSpec.initContainers ?? []) {
    if (c.command?.[0]?.endsWith("/token_verifier")) {
      if (c.restartPolicy !== "Always") errors.push(`initContainer ${c.name}: restartPolicy is not Always`);
      errors.push(...grpcProbes(c).map((e) => `initContainer ${c.name}: ${e}`));
    }
  }
  return errors;
}

async function schemaErrors(obj) {
  if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") {
    return ["no apiVersion or kind"];
  }
  let mod;
  try {
    mod = await import(`kubernetes-models/${obj.apiVersion}/${obj.kind}`);
  } catch {
    return [`no schema for apiVersion ${obj.apiVersion} kind ${obj.kind}`];
  }
  const Model = mod[obj.kind];
  if (typeof Model !== "function") return [`no model for ${obj.apiVersion} ${obj.kind}`];
  try {
    new Model(obj).validate();
  } catch (e) {
    const details = Array.isArray(e.errors)
      ? e.errors.map((d) => `${d.instancePath || "/"} ${d.message ?? d.keyword}${d.params?.allowedValues ? ` (${d.params.allowedValues.join(", ")})` : ""}`)
      : [String(e.message ?? e)];
    return details;
  }
  return [];
}

let failed = 0;
let count = 0;
for (const file of files) {
  const text = readFileSync(file === "-" ? 0 : file, "utf8");
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      console.log(`FAIL ${file}: YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
      failed++;
      continue;
    }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) continue;
    // kustomize wraps base64 Secret data at 70 columns; the API server's decoder (Go's
    // encoding/base64) skips those line breaks, the schema's "byte" format does not.
    if (obj.apiVersion === "v1" && obj.kind === "Secret" && obj.data && typeof obj.data === "object") {
      for (const [k, v] of Object.entries(obj.data)) {
        if (typeof v === "string") obj.data[k] = v.replace(/[\r\n]/g, "");
      }
    }
    count++;
    const id = `${obj.kind ?? "?"}/${obj.metadata?.name ?? "?"}`;
    const errors = [...(await schemaErrors(obj)), ...policyErrors(obj)];
    if (errors.length === 0) {
      console.log(`ok   ${id} (${obj.apiVersion})`);
    } else {
      failed++;
      console.log(`FAIL ${id} (${obj.apiVersion})`);
      for (const e of errors) console.log(`       ${e}`);
    }
  }
}
console.log(`${count - failed} of ${count} objects valid`);
process.exit(failed > 0 || count === 0 ? 1 : 0);
