// Validation of rendered Kubernetes objects against the upstream OpenAPI
// schemas, through the npm package kubernetes-models (validators compiled
// from those schemas).
//
// Those validators accept fields the schema does not define, which the API
// server rejects (kubectl's default field validation is strict) and which is
// how a misspelt field (`readinesProbe`) would slip through. So unknown fields
// are checked too, from the property lists of the package's TypeScript
// declarations, which are generated from the same schemas.
//
//   const problems = await schemaProblems(object);  // [] when valid

import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const nodeModules = fileURLToPath(new URL("./node_modules/", import.meta.url));

// Returns the kubernetes-models class for apiVersion and kind, or null.
async function modelClass(apiVersion, kind) {
  try {
    const module = await import(`kubernetes-models/${apiVersion}/${kind}`);
    return module[kind] ?? null;
  } catch {
    return null;
  }
}

// "/spec/template/spec" -> "spec.template.spec"; array indices as [i].
function fieldPath(instancePath) {
  return instancePath
    .split("/")
    .filter(Boolean)
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`))
    .join("")
    .replace(/^\./, "");
}

// Type declarations: interface name (as exported, e.g.
// IIoK8sApiCoreV1Probe) -> Map(property -> type), where a type is
// {array: type}, {map: type}, {name: "IIoK8s..."} or {leaf: true}.
let declarations = null;

function parseType(text) {
  const array = /^Array<(.+)>$/.exec(text);
  if (array) return { array: parseType(array[1]) };
  if (/^I\w+$/.test(text)) return { name: text };
  return { leaf: true };
}

// Adds the interfaces declared in one .d.ts file.
function parseDeclarations(source, into) {
  const exported = new Map();  // local interface name -> exported name
  for (const match of source.matchAll(/export type \{ (I\w+) as (I\w+),/g)) {
    exported.set(match[1], match[2]);
  }
  for (const match of source.matchAll(
    /^export interface (I\w+)(?: extends [\w, ]+)? \{\n([\s\S]*?)^\}/gm,
  )) {
    const properties = new Map();
    const lines = match[2].split("\n");
    for (let i = 0; i < lines.length; i++) {
      const property = /^ {4}"([^"]+)"\??: (.*);?$/.exec(lines[i]);
      if (!property) continue;
      let type = property[2].replace(/;$/, "");
      if (type === "{") {
        // A map: `{ [key: string]: T; }` over the following lines.
        let value = null;
        for (i++; i < lines.length && !/^ {4}\};?$/.test(lines[i]); i++) {
          const entry = /\[key: string\]: (.*);$/.exec(lines[i]);
          if (entry) value = entry[1];
        }
        properties.set(property[1], { map: value ? parseType(value) : { leaf: true } });
      } else {
        properties.set(property[1], parseType(type));
      }
    }
    into.set(exported.get(match[1]) ?? match[1], properties);
  }
}

function loadDeclarations() {
  if (declarations) return declarations;
  declarations = new Map();
  for (const root of ["kubernetes-models", "@kubernetes-models/apimachinery"]) {
    const walk = (directory) => {
      for (const entry of readdirSync(directory, { withFileTypes: true })) {
        const file = path.join(directory, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (entry.name.endsWith(".d.ts")) {
          parseDeclarations(readFileSync(file, "utf8"), declarations);
        }
      }
    };
    walk(path.join(nodeModules, root));
  }
  return declarations;
}

// Appends to problems every field of value that its type does not declare.
// Interfaces without properties stand for free-form objects.
function unknownFields(value, type, where, problems) {
  if (value === null || value === undefined || type.leaf) return;
  if (type.array) {
    if (Array.isArray(value)) {
      value.forEach((item, i) => unknownFields(item, type.array, `${where}[${i}]`, problems));
    }
    return;
  }
  if (typeof value !== "object" || Array.isArray(value)) return;
  if (type.map) {
    for (const [key, item] of Object.entries(value)) {
      unknownFields(item, type.map, `${where}.${key}`, problems);
    }
    return;
  }
  const properties = loadDeclarations().get(type.name);
  if (!properties || properties.size === 0) return;
  for (const [key, item] of Object.entries(value)) {
    const field = where ? `${where}.${key}` : key;
    const propertyType = properties.get(key);
    if (!propertyType) {
      problems.push(`${field}: unknown field (not in the schema of ${type.name.replace(/^IIoK8s/, "")})`);
    } else {
      unknownFields(item, propertyType, field, problems);
    }
  }
}

// The exported interface name of a kind's root type, e.g.
// IIoK8sApiAppsV1Deployment, from its declaration file.
function rootTypeName(apiVersion, kind) {
  const file = path.join(nodeModules, "kubernetes-models", apiVersion, `${kind}.d.ts`);
  const match = new RegExp(`export type \\{ I${kind} as (I\\w+),`).exec(readFileSync(file, "utf8"));
  return match ? match[1] : null;
}

// Returns the schema violations of one Kubernetes object (an empty array when
// it is valid), each as "field: problem".
export async function schemaProblems(object) {
  const { apiVersion, kind } = object ?? {};
  const Model = await modelClass(apiVersion, kind);
  if (!Model) return [`apiVersion/kind: no schema for ${apiVersion} ${kind}`];
  const problems = [];
  try {
    new Model(object).validate();
  } catch (error) {
    for (const e of error.errors ?? [{ instancePath: "", message: error.message }]) {
      problems.push(`${fieldPath(e.instancePath) || "(object)"}: ${e.message}`);
    }
  }
  const root = rootTypeName(apiVersion, kind);
  if (!root) return [...problems, `apiVersion/kind: no declarations for ${apiVersion} ${kind}`];
  unknownFields(object, { name: root }, "", problems);
  return problems;
}
