// Prints the command and args of one container of a rendered manifest, NUL-separated, so
// scripts/image-test.sh runs the image exactly as Kubernetes would.
//   node container-spec.mjs FILE KIND NAME CONTAINER   (init containers included)
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const [file, kind, name, container] = process.argv.slice(2);
if (!container) {
  console.error("usage: node container-spec.mjs FILE KIND NAME CONTAINER");
  process.exit(2);
}
for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
  const obj = doc.toJS();
  if (obj?.kind !== kind || obj?.metadata?.name !== name) continue;
  const spec = obj.spec?.template?.spec ?? {};
  const c = [...(spec.initContainers ?? []), ...(spec.containers ?? [])].find((x) => x.name === container);
  if (!c) break;
  const words = [...(c.command ?? []), ...(c.args ?? [])];
  if (words.some((w) => /\$\([A-Za-z_][A-Za-z0-9_]*\)/.test(w))) {
    console.error(`${kind}/${name} ${container}: $(VAR) references are not expanded here`);
    process.exit(1);
  }
  process.stdout.write(words.map((w) => w + "\0").join(""));
  process.exit(0);
}
console.error(`no container ${container} in ${kind}/${name} of ${file}`);
process.exit(1);
