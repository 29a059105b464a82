#!/usr/bin/env python3
"""The modules of each crate and which import which, read from `use` paths and `crate::`/`super::`
paths in the code (tests and comments left out).

  scripts/modules.py check     fails when a module imports one that imports it back, in any crate,
                               or when the diagram in docs/architecture.md is not the one below
  scripts/modules.py diagram   prints that diagram (Mermaid)
"""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CRATES = {"engine": "slate-engine", "activities": "slate-activities", "api": "slate-api"}


def modules(src):
    """Each module of the crate (a path of names; the root is ()) and its file."""
    found = {}
    for folder, _, files in os.walk(src):
        for name in files:
            if name.endswith(".rs"):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, src)[:-3].split(os.sep)
                if parts[-1] == "mod":
                    parts = parts[:-1]
                if parts in (["lib"], ["main"]):
                    parts = []
                found[tuple(parts)] = path
    return found


def expand(tree):
    """`a::{b, c::{d}}` as `a::b`, `a::c::d`."""
    tree = re.sub(r"\s+", "", tree)
    if "{" not in tree:
        return [tree]
    head, inner = tree[: tree.index("{")], tree[tree.index("{") + 1 : -1]
    items, depth, current = [], 0, ""
    for char in inner:
        depth += char == "{"
        depth -= char == "}"
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    return [head + path for item in items if item for path in expand(item)]


def imports(src):
    """For each module, the modules (of the same crate) it imports, the root excepted."""
    files = modules(src)
    edges = {}
    for module, path in files.items():
        text = open(path, encoding="utf-8").read()
        text = re.sub(r"#\[cfg\(test\)\]\s*mod tests \{.*", "", text, flags=re.S)
        text = re.sub(r"//.*", "", text)
        paths = [p for tree in re.findall(r"\buse\s+([^;]+);", text) for p in expand(tree)]
        paths += re.findall(r"(?<![:\w])((?:crate|super)(?:::\w+)+)", text)
        targets = set()
        for path in paths:
            names = path.split("::")
            if names[0] == "crate":
                base, names = [], names[1:]
            elif names[0] in ("super", "self"):
                base = list(module)
                while names and names[0] in ("super", "self"):
                    base = base[:-1] if names[0] == "super" else base
                    names = names[1:]
            elif module + (names[0],) in files:
                base = list(module)
            else:
                continue
            full = base + names
            target = next(tuple(full[:k]) for k in range(len(full), -1, -1) if tuple(full[:k]) in files or k == 0)
            if target not in ((), module):
                targets.add(target)
        edges[module] = targets
    return edges


def cycles(edges):
    """Pairs of modules that reach each other."""
    def reach(start):
        seen, stack = set(), [start]
        while stack:
            for next_module in edges.get(stack.pop(), ()):
                if next_module not in seen:
                    seen.add(next_module)
                    stack.append(next_module)
        return seen

    return sorted({tuple(sorted((a, b))) for a in edges for b in edges[a] if a in reach(b)})


def name(module):
    return "::".join(module)


def reduced(edges):
    """The edges that no longer path implies (the transitive reduction of an acyclic graph)."""
    def reachable(start, skip):
        seen, stack = set(), [t for t in edges[start] if t != skip]
        while stack:
            module = stack.pop()
            if module not in seen:
                seen.add(module)
                stack.extend(edges.get(module, ()))
        return seen

    return {a: {b for b in edges[a] if b not in reachable(a, b)} for a in edges}


def diagram():
    """For each crate, its top-level modules with an arrow where one imports another (arrows that
    a path of others implies are left out), as Mermaid."""
    blocks = []
    for folder, crate in CRATES.items():
        top = {}
        for module, targets in imports(os.path.join(ROOT, folder, "src")).items():
            if module:
                top.setdefault(module[0], set()).update(t[0] for t in targets if t[0] != module[0])
        lines = [f"**{crate}** ({folder}/src)", "", "```mermaid", "flowchart TB"]
        edges = reduced(top)
        lines += [f"  {module}" for module in sorted(top) if not edges[module] and not any(module in e for e in edges.values())]
        for module in sorted(edges):
            for target in sorted(edges[module]):
                lines.append(f"  {module} --> {target}")
        lines.append("```")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


BEGIN, END = "<!-- modules.py diagram: begin -->", "<!-- modules.py diagram: end -->"


def documented():
    """The diagram in docs/architecture.md, between its markers."""
    text = open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8").read()
    if BEGIN not in text or END not in text:
        return ""
    return text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip()


def check():
    found = False
    for folder in CRATES:
        for a, b in cycles(imports(os.path.join(ROOT, folder, "src"))):
            print(f"{folder}: {name(a)} and {name(b)} import each other", file=sys.stderr)
            found = True
    if documented() != diagram():
        print("docs/architecture.md's diagram is out of date: scripts/modules.py diagram", file=sys.stderr)
        found = True
    return 1 if found else 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "diagram":
        print(diagram())
    else:
        sys.exit(check())
