// The root Dockerfile, parsed, and what its runtime image holds, derived from
// this machine's dpkg database (the same Debian 12 packages the image
// installs). Images cannot be built here, so these stand in for building one.
//
//   const dockerfile = parseDockerfile(text);
//   const image = runtimeImage(dockerfile.stages.at(-1));
//   image.hasFile("/bin/sleep")  // its package is in the image

import { execFileSync, spawnSync } from "node:child_process";
import { realpathSync } from "node:fs";

// Returns {stages: [{from, name, instructions: [{keyword, text, json}]}]}:
// comment lines dropped, continuation lines joined, `json` the exec form's
// array (or null for the shell form).
export function parseDockerfile(text) {
  const logical = [];
  let current = "";
  for (const line of text.split("\n")) {
    if (/^\s*#/.test(line)) continue;
    if (/\\\s*$/.test(line)) {
      current += line.replace(/\\\s*$/, " ");
      continue;
    }
    current += line;
    if (current.trim()) logical.push(current.trim());
    current = "";
  }
  if (current.trim()) logical.push(current.trim());
  const stages = [];
  for (const line of logical) {
    const [, keyword, rest] = /^(\S+)\s*(.*)$/.exec(line);
    const text = rest.trim();
    if (keyword.toUpperCase() === "FROM") {
      const from = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(text);
      stages.push({ from: from[1], name: from[2] ?? String(stages.length), instructions: [] });
      continue;
    }
    let json = null;
    if (text.startsWith("[")) {
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
    }
    stages.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), text, json });
  }
  return { stages };
}

// Returns the instructions of a stage with this keyword.
export function instructions(stage, keyword) {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

// Returns the packages `apt-get install` installs in a stage.
export function aptInstalled(stage) {
  const packages = [];
  for (const run of instructions(stage, "RUN")) {
    for (const match of run.text.matchAll(/apt-get\s+install\s+([^&;|]*)/g)) {
      for (const word of match[1].trim().split(/\s+/)) {
        if (word && !word.startsWith("-")) packages.push(word.split("=")[0]);
      }
    }
  }
  return packages;
}

// Installed packages: name -> {essential, priority, depends: [[alternative]]}
// plus provides: virtual name -> [package].
function dpkgDatabase() {
  const out = execFileSync(
    "dpkg-query",
    ["-W", "-f=${Package}\t${Essential}\t${Priority}\t${Pre-Depends}, ${Depends}\t${Provides}\n"],
    { encoding: "utf8" },
  );
  const packages = new Map();
  const provides = new Map();
  const names = (list) =>
    list
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  for (const line of out.split("\n")) {
    if (!line) continue;
    const [name, essential, priority, depends, provided] = line.split("\t");
    packages.set(name, {
      essential: essential === "yes",
      priority,
      depends: names(depends).map((dependency) =>
        dependency.split("|").map((alternative) => alternative.trim().split(/[\s:(]/)[0]),
      ),
    });
    for (const virtual of names(provided)) {
      const virtualName = virtual.split(/[\s(]/)[0];
      provides.set(virtualName, [...(provides.get(virtualName) ?? []), name]);
    }
  }
  return { packages, provides };
}

// Returns roots and every package they depend on (Depends, Pre-Depends), as
// installed here: of alternatives, the first one installed.
function closure(database, roots) {
  const seen = new Set();
  const pending = [...roots];
  while (pending.length) {
    const name = pending.pop();
    if (seen.has(name)) continue;
    const entry = database.packages.get(name);
    if (!entry) continue;
    seen.add(name);
    for (const alternatives of entry.depends) {
      const chosen = alternatives
        .flatMap((a) => (database.packages.has(a) ? [a] : database.provides.get(a) ?? []))
        .find((a) => database.packages.has(a));
      if (chosen) pending.push(chosen);
    }
  }
  return seen;
}

// Returns path -> owning package for the paths dpkg knows (also under their
// real path and across the /lib -> /usr/lib merge).
export function owners(paths) {
  const candidates = new Map();
  for (const file of paths) {
    let real = file;
    try {
      real = realpathSync(file);
    } catch {}
    const variants = new Set([file, real]);
    for (const v of [...variants]) {
      if (v.startsWith("/usr/")) variants.add(v.slice(4));
      else variants.add(`/usr${v}`);
    }
    candidates.set(file, [...variants]);
  }
  const result = spawnSync("dpkg", ["-S", ...new Set([...candidates.values()].flat())], {
    encoding: "utf8",
  });
  const byPath = new Map();
  for (const line of result.stdout.split("\n")) {
    const match = /^([^:,]+)(?::\S+)?(?:, [^:]+)*: (.*)$/.exec(line);
    if (match) byPath.set(match[2], match[1]);
  }
  const owner = new Map();
  for (const [file, variants] of candidates) {
    const found = variants.map((v) => byPath.get(v)).find(Boolean);
    if (found) owner.set(file, found);
  }
  return owner;
}

// What the runtime stage's image holds: debian:12-slim is Debian's minbase
// (the Essential and required packages and apt, with their dependencies),
// plus what the stage installs with apt and their dependencies.
export function runtimeImage(stage) {
  const database = dpkgDatabase();
  const baseRoots = [...database.packages]
    .filter(([, p]) => p.essential || p.priority === "required")
    .map(([name]) => name);
  const base = closure(database, [...baseRoots, "apt"]);
  const listed = aptInstalled(stage);
  const installed = closure(database, listed);
  const packages = new Set([...base, ...installed]);
  return {
    base,
    listed,
    unknown: listed.filter((name) => !database.packages.has(name)),
    packages,
    hasFile: (file) => packages.has(owners([file]).get(file)),
  };
}

// Returns [{name, path, needed}] for every shared library the binary loads
// (ldd), `needed` when the binary links it directly (readelf -d NEEDED).
export function sharedLibraries(binary) {
  const ldd = execFileSync("ldd", [binary], { encoding: "utf8" });
  const libraries = [];
  for (const line of ldd.split("\n")) {
    const arrow = /^\s*(\S+) => (\/\S+)/.exec(line);
    const direct = /^\s*(\/\S+) \(/.exec(line);
    if (arrow) libraries.push({ name: arrow[1], path: arrow[2] });
    else if (direct) libraries.push({ name: direct[1].split("/").at(-1), path: direct[1] });
  }
  const dynamic = execFileSync("readelf", ["-d", binary], { encoding: "utf8" });
  const needed = new Set([...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]));
  // Sanitizer runtimes appear only when the test suite itself runs under
  // --config=asan/tsan; the image's binary is built without them.
  const sanitizer = /^lib(asan|ubsan|tsan|lsan)\.so/;
  return libraries
    .filter((library) => !sanitizer.test(library.name))
    .map((library) => ({ ...library, needed: needed.has(library.name) }));
}
