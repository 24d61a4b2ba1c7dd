#!/usr/bin/env node
// Kubernetes JSON schemas for kubeconform, made offline from the official OpenAPI document.
//
//   node scripts/k8s-json-schemas.mjs <swagger.json> <out-dir>
//
// <swagger.json> is api/openapi-spec/swagger.json of the k8s.io/kubernetes Go module (fetched
// through the Go module proxy by `make setup`); <out-dir> gets the layout kubeconform reads with
// `-schema-location <out-dir> -kubernetes-version master -strict`:
// master-standalone-strict/<kind>[-<group>]-<version>.json, one file per kind, every $ref inlined.
// It does what the openapi2jsonschema script behind kubeconform's published schemas does with
// --standalone --strict --expanded: int-or-string becomes oneOf string/integer, and every object
// with properties gets additionalProperties: false (an unknown or misspelt field is an error).
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [swaggerFile, outDir] = process.argv.slice(2);
if (!swaggerFile || !outDir) {
  process.stderr.write("usage: k8s-json-schemas.mjs <swagger.json> <out-dir>\n");
  process.exit(2);
}
const definitions = JSON.parse(readFileSync(swaggerFile, "utf8")).definitions;

/** A definition with its $refs inlined; a type that contains itself (CRD schemas) becomes {}. */
function expand(node, stack) {
  if (Array.isArray(node)) return node.map((n) => expand(n, stack));
  if (node === null || typeof node !== "object") return node;
  if (typeof node.$ref === "string") {
    const name = node.$ref.replace(/^#\/definitions\//, "");
    if (stack.includes(name)) return {};
    const target = definitions[name];
    if (!target) throw new Error(`unknown $ref ${node.$ref}`);
    const { $ref: _ref, ...rest } = node;
    return { ...expand(target, [...stack, name]), ...expand(rest, stack) };
  }
  if (node.format === "int-or-string") return { oneOf: [{ type: "string" }, { type: "integer" }] };
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    // keys under `properties` are field names, not schema keywords
    if (key === "properties") {
      out.properties = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expand(v, stack)]));
    } else {
      out[key] = expand(value, stack);
    }
  }
  if (out.properties && !("additionalProperties" in out)) out.additionalProperties = false;
  return out;
}

const tmp = `${outDir}.tmp`;
rmSync(tmp, { recursive: true, force: true });
const dir = join(tmp, "master-standalone-strict");
mkdirSync(dir, { recursive: true });
let written = 0;
for (const [name, definition] of Object.entries(definitions)) {
  const gvks = definition["x-kubernetes-group-version-kind"];
  if (!Array.isArray(gvks)) continue;
  const schema = expand(definitions[name], [name]);
  for (const { group, version, kind } of gvks) {
    // kubeconform's file name: the kind, the group's first label (none for the core group), the version
    const suffix = group ? `-${group.split(".")[0]}-${version}` : `-${version}`;
    const gvk = { ...schema, properties: { ...schema.properties } };
    // apiVersion and kind are fixed for each file
    const apiVersion = group ? `${group}/${version}` : version;
    if (gvk.properties.apiVersion) gvk.properties.apiVersion = { type: "string", enum: [apiVersion] };
    if (gvk.properties.kind) gvk.properties.kind = { type: "string", enum: [kind] };
    gvk.$schema = "http://json-schema.org/schema#";
    writeFileSync(join(dir, `${kind.toLowerCase()}${suffix.toLowerCase()}.json`), JSON.stringify(gvk));
    written++;
  }
}
rmSync(outDir, { recursive: true, force: true });
renameSync(tmp, outDir);
process.stdout.write(`${written} schemas in ${outDir}\n`);
