#!/usr/bin/env python3
"""An independent judge of `restore --rewrite-registry` (tests/cases/t87-rewrite.sh).

    judge_rewrite.py [--max-details N] BEFORE_DIR AFTER_DIR OLD=NEW...

compares every file of BEFORE_DIR with the same file of AFTER_DIR, given the
rules the rewrite was asked for (in their order: the first that applies wins).
YAML is read with PyYAML (every document), Terraform with HashiCorp's HCL
parser (tests/tools/hcl2json.js); nothing here shares code with envpack.

- parse: every file that parsed before parses after.
- Leaf by leaf, every changed scalar must be an image reference at a known place
  whose expected rewrite equals its new value (else: wrong), and every image at a
  known place that a rule covers must have changed (else: a miss).
- untouched: every byte outside the changed scalars is as it was (difflib on
  lines: each changed line is its old self with old values replaced by new ones).

A reference is normalised the way Docker does: no domain (or docker.io,
index.docker.io, registry-1.docker.io) means docker.io, where a one-part path
gains library/. A rule OLD=NEW applies when OLD is DOMAIN/PATH or a prefix of it
at a '/'; the reference then becomes NEW plus the rest, tag and digest kept.
Values compare normalised, so nginx:1.25 and docker.io/library/nginx:1.25 agree.

Known places:
- Kubernetes objects (YAML documents with apiVersion and kind), but not a
  CustomResourceDefinition: every `image` key with a scalar value.
- Helm values (values*.yaml beside a Chart.yaml): `image` scalars; `image` maps
  judged as one reference: {registry, repository} with global.imageRegistry
  taking the registry's place when set (bitnami, prometheus-community), and
  {registry, image} with global.image.registry as the default registry
  (ingress-nginx), repository winning when set.
- Kustomization: images[].name and images[].newName.
- Terraform resources: `image` attributes at any depth in kubernetes_*, docker_*,
  google_cloud_run_* and azurerm_container_* (and `name` of docker_image and
  docker_registry_image); the `image` of each container in an
  aws_ecs_task_definition's container_definitions (jsonencode(...) or a JSON
  string); helm_release `set` values whose name ends in image or image.repository.
Values that are not literal references (var.x, "${...}", "{{ ... }}", "<image_url>")
count as places whose value must not change.

Prints a line per file, the problems found, a summary and one `verdict KEY ok|FAIL`
line for each of parse, misses, wrong and untouched; exits 0 only when all are ok.
"""
import argparse
import difflib
import json
import os
import re
import subprocess
import sys

import yaml

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
HERE = os.path.dirname(os.path.abspath(__file__))
HCL2JSON = os.path.join(HERE, "hcl2json.js")
HCL2JSON_MODULE = os.path.join(HERE, "../../build/node/hcl2json/node_modules/@cdktf/hcl2json")

# the grammar of github.com/distribution/reference
_ALNUM = r"[a-z0-9]+"
_PATH = rf"{_ALNUM}(?:(?:[._]|__|-+){_ALNUM})*"
_DCOMP = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DCOMP}(?:\.{_DCOMP})*(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH}(?:/{_PATH})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
REFERENCE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")


def split_domain(name):
    """(domain, path) as Docker splits a name: the first part is a domain only
    when it has a '.' or ':', is localhost, or has capitals."""
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = first, rest
    else:
        domain, path = "docker.io", name
    if domain in DOCKER_HUB:
        domain = "docker.io"
        if "/" not in path:
            path = "library/" + path
    return domain, path


def normalise(ref):
    """(DOMAIN/PATH, ':tag@digest') or None when ref is not a literal image reference."""
    if not isinstance(ref, str) or "${" in ref or "{{" in ref:
        return None
    m = REFERENCE.match(ref)
    if not m:
        return None
    domain, path = split_domain(m.group(1))
    suffix = (":" + m.group(2) if m.group(2) else "") + ("@" + m.group(3) if m.group(3) else "")
    return domain + "/" + path, suffix


def parse_rules(specs):
    rules = []
    for spec in specs:
        old, eq, new = spec.partition("=")
        if not eq or not old or not new:
            sys.exit(f"judge_rewrite: a rule is OLD=NEW, not {spec!r}")
        first, slash, rest = old.strip("/").partition("/")
        if first in DOCKER_HUB:
            first = "docker.io"
        rules.append((first + slash + rest, new.rstrip("/")))
    return rules


def rewrite(ref, rules):
    """The reference ref becomes under the rules, or None when no rule covers it."""
    n = normalise(ref)
    if n is None:
        return None
    name, suffix = n
    for old, new in rules:
        if name == old or name.startswith(old + "/"):
            return new + name[len(old):] + suffix
    return None


def same_image(a, b):
    na, nb = normalise(a), normalise(b)
    return na is not None and na == nb


# ---- trees ----

def flatten(node, path=(), out=None):
    """path -> scalar for every leaf, path -> ('dict'|'list', keys) for containers,
    so that two trees of one shape have the same paths."""
    if out is None:
        out = {}
    if isinstance(node, dict):
        out[path] = ("dict", tuple(sorted(map(repr, node))))
        for k, v in node.items():
            flatten(v, path + (k,), out)
    elif isinstance(node, list):
        out[path] = ("list", len(node))
        for i, v in enumerate(node):
            flatten(v, path + (i,), out)
    else:
        out[path] = node
    return out


def same_leaf(a, b):
    return type(a) is type(b) and repr(a) == repr(b)


def show(path):
    return ".".join(str(p) for p in path) or "(top)"


def walk_keys(node, path, key):
    """(path of the mapping, its value) for every mapping entry named key."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield path + (k,), v
            yield from walk_keys(v, path + (k,), key)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk_keys(v, path + (i,), key)


class Place:
    """One image reference: the leaves it is made of and how they compose."""

    def __init__(self, label, leaves, compose):
        self.label, self.leaves, self.compose = label, leaves, compose

    def value(self, flat):
        return self.compose(flat)


def single(path):
    return Place(show(path), [path], lambda flat: flat.get(path))


def nonempty(flat, path):
    v = flat.get(path) if path else None
    return v if isinstance(v, str) and v else None


def helm_places(doc, d):
    places = []
    global_registry = (d, "global", "imageRegistry")
    global_image_registry = (d, "global", "image", "registry")
    for path, value in walk_keys(doc, (d,), "image"):
        if not isinstance(value, (dict, list)):
            if len(path) >= 2 and path[-2] == "image":
                continue  # the `image` of an ingress-nginx style map: judged with its map
            places.append(single(path))
            continue
        if not isinstance(value, dict):
            continue
        reg = path + ("registry",) if "registry" in value else None
        if isinstance(value.get("repository"), str):
            repo = path + ("repository",)

            def compose(flat, reg=reg, repo=repo):
                registry = nonempty(flat, global_registry) or nonempty(flat, reg)
                r = flat.get(repo)
                if not isinstance(r, str):
                    return r
                return registry + "/" + r if registry else r

            leaves = [p for p in (reg, repo, global_registry) if p]
            places.append(Place(show(path), leaves, compose))
        elif isinstance(value.get("image"), str):
            image = path + ("image",)

            def compose(flat, reg=reg, image=image):
                registry = nonempty(flat, reg) or nonempty(flat, global_image_registry)
                r = flat.get(image)
                if not isinstance(r, str):
                    return r
                return registry + "/" + r if registry else r

            leaves = [p for p in (reg, image, global_image_registry) if p]
            places.append(Place(show(path), leaves, compose))
    return places


def yaml_places(kind, docs):
    places = []
    for d, doc in enumerate(docs):
        if kind == "helm-values":
            places += helm_places(doc, d)
        elif kind == "kustomization":
            images = doc.get("images") if isinstance(doc, dict) else None
            for i, entry in enumerate(images if isinstance(images, list) else []):
                for key in ("name", "newName"):
                    if isinstance(entry, dict) and key in entry:
                        places.append(single((d, "images", i, key)))
        elif isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc and doc["kind"] != "CustomResourceDefinition":
            places += [single(p) for p, v in walk_keys(doc, (d,), "image") if not isinstance(v, (dict, list))]
    return places


IMAGE_RESOURCES = ("kubernetes_", "docker_", "google_cloud_run_", "azurerm_container_")
HELM_SET = re.compile(r"(^|\.)image(\.repository)?$")


def terraform_places(tree):
    places = []
    resources = tree.get("resource") if isinstance(tree, dict) else None
    for rtype, named in (resources or {}).items():
        for rname, bodies in (named or {}).items():
            for i, body in enumerate(bodies if isinstance(bodies, list) else [bodies]):
                at = ("resource", rtype, rname, i)
                if rtype.startswith(IMAGE_RESOURCES):
                    places += [single(p) for p, v in walk_keys(body, at, "image") if not isinstance(v, (dict, list))]
                if rtype in ("docker_image", "docker_registry_image") and "name" in body:
                    places.append(single(at + ("name",)))
                if rtype == "aws_ecs_task_definition" and isinstance(body.get("container_definitions"), dict):
                    inner = body["container_definitions"]
                    places += [single(p) for p, v in walk_keys(inner, at + ("container_definitions",), "image")
                               if not isinstance(v, (dict, list))]
                if rtype == "helm_release":
                    sets = body.get("set")
                    for j, s in enumerate(sets if isinstance(sets, list) else []):
                        if isinstance(s, dict) and isinstance(s.get("name"), str) and HELM_SET.search(s["name"]) and "value" in s:
                            places.append(single(at + ("set", j, "value")))
    return places


def expand_json_strings(tree):
    """container_definitions given as a JSON string (a heredoc) becomes its tree."""
    for named in ((tree.get("resource") or {}).get("aws_ecs_task_definition") or {}).values():
        for body in named if isinstance(named, list) else []:
            v = body.get("container_definitions")
            if isinstance(v, str) and "${" not in v:
                try:
                    body["container_definitions"] = {"__json__": json.loads(v)}
                except ValueError:
                    pass
    return tree


# ---- files ----

def kind_of(rel, before_dir):
    base = os.path.basename(rel)
    if base.endswith(".tf"):
        return "terraform"
    if not base.endswith((".yaml", ".yml")):
        return "other"
    if base in ("kustomization.yaml", "kustomization.yml"):
        return "kustomization"
    if base.startswith("values") and os.path.exists(os.path.join(before_dir, os.path.dirname(rel), "Chart.yaml")):
        return "helm-values"
    return "yaml"


def parse_yaml(path):
    try:
        with open(path, "rb") as f:
            return list(yaml.load_all(f, Loader=LOADER)), None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        return None, " ".join(str(e).split())


def parse_terraform(paths):
    if not paths:
        return {}
    if not os.path.isdir(HCL2JSON_MODULE):
        sys.exit("judge_rewrite: HashiCorp's HCL parser is not installed (scripts/deps.sh puts it in build/node/hcl2json)")
    out = subprocess.run(["node", HCL2JSON] + paths, check=True, capture_output=True, text=True).stdout
    got = json.loads(out)
    return {p: (expand_json_strings(got[p]["ok"]), None) if "ok" in got[p] else (None, got[p]["error"]) for p in paths}


def list_files(top):
    files = []
    for root, dirs, names in os.walk(top):
        dirs.sort()
        for n in sorted(names):
            full = os.path.join(root, n)
            if os.path.isfile(full) and not os.path.islink(full):
                files.append(os.path.relpath(full, top))
    return files


def explainable(bl, al, pairs):
    """Whether line al is line bl with some old values replaced by their new ones."""
    for old, new in pairs:
        if old in bl and (bl.replace(old, new, 1) == al or bl.replace(old, new) == al):
            return True
    cur = bl
    for old, new in sorted(pairs, key=lambda p: -len(p[0])):
        if old and old in cur:
            cur = cur.replace(old, new)
    return cur == al


def untouched_problems(before, after, pairs):
    """The changed lines no changed value explains."""
    if not pairs:
        return [] if before == after else ["the bytes changed though no value did"]
    b = before.decode("utf-8", "surrogateescape").splitlines(keepends=True)
    a = after.decode("utf-8", "surrogateescape").splitlines(keepends=True)
    problems = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, b, a, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if tag != "replace" or i2 - i1 != j2 - j1:
            problems.append(f"lines {i1 + 1}-{i2} ({tag}, {i2 - i1} -> {j2 - j1} lines)")
            continue
        for k in range(i2 - i1):
            if not explainable(b[i1 + k], a[j1 + k], pairs):
                problems.append(f"line {i1 + k + 1}: {b[i1 + k].rstrip(chr(10))!r} -> {a[j1 + k].rstrip(chr(10))!r}")
    return problems


class Judge:
    def __init__(self, rules, max_details):
        self.rules, self.max_details = rules, max_details
        self.totals = dict(files=0, parsed_before=0, parsed_after=0, images=0, covered=0, moved=0, misses=0,
                           wrong=0, untouched=0)
        self.broken, self.lines = [], []

    def judge_tree(self, kind, before, after):
        """(counts, problems, (old, new) pairs of the changed string leaves)."""
        c = dict(images=0, covered=0, moved=0, misses=0, wrong=0)
        problems, pairs = [], []
        fb = flatten(before)
        fa = flatten(after)
        shape = [p for p in set(fb) | set(fa)
                 if p not in fb or p not in fa or (isinstance(fb[p], tuple) and not same_leaf(fb[p], fa[p]))]
        if shape:
            c["wrong"] += 1
            problems.append(f"wrong: the structure changed at {show(min(shape, key=len))}")
            return c, problems, pairs
        changed = {p for p in fb if not same_leaf(fb[p], fa[p])}
        for p in changed:
            if isinstance(fb[p], str) and isinstance(fa[p], str):
                pairs.append((fb[p], fa[p]))
        places = yaml_places(kind, before) if kind != "terraform" else terraform_places(before)
        owned = set()
        for place in places:
            owned.update(place.leaves)
            b, a = place.value(fb), place.value(fa)
            touched = any(p in changed for p in place.leaves)
            if normalise(b) is None:
                if touched:
                    c["wrong"] += 1
                    problems.append(f"wrong: {place.label}: {b!r} is no image reference, yet became {a!r}")
                continue
            c["images"] += 1
            want = rewrite(b, self.rules)
            if want is None:
                if touched and a != b:
                    c["wrong"] += 1
                    problems.append(f"wrong: {place.label}: no rule covers {b!r}, yet it became {a!r}")
                continue
            c["covered"] += 1
            if a == b:
                c["misses"] += 1
                problems.append(f"miss: {place.label}: {b!r} should have become {want!r}")
            elif same_image(a, want):
                c["moved"] += 1
            else:
                c["wrong"] += 1
                problems.append(f"wrong: {place.label}: {b!r} became {a!r}, not {want!r}")
        for p in sorted(changed - owned, key=show):
            c["wrong"] += 1
            problems.append(f"wrong: {show(p)} is no known place of an image, yet {fb[p]!r} became {fa[p]!r}")
        return c, problems, pairs

    def run(self, before_dir, after_dir):
        files = list_files(before_dir)
        extra = sorted(set(list_files(after_dir)) - set(files))
        kinds = {rel: kind_of(rel, before_dir) for rel in files}
        tf = [rel for rel in files if kinds[rel] == "terraform"]
        tf_parsed = parse_terraform([os.path.join(before_dir, rel) for rel in tf] +  # one start of the parser
                                    [os.path.join(after_dir, rel) for rel in tf
                                     if os.path.isfile(os.path.join(after_dir, rel))])
        for rel in files:
            self.totals["files"] += 1
            kind = kinds[rel]
            bpath, apath = os.path.join(before_dir, rel), os.path.join(after_dir, rel)
            if not os.path.isfile(apath):
                self.broken.append(rel)
                self.lines.append(f"{rel}: {kind}: FAIL: missing after the restore")
                continue
            with open(bpath, "rb") as f:
                braw = f.read()
            with open(apath, "rb") as f:
                araw = f.read()
            if kind == "other":
                before = after = None
                berr = aerr = "not YAML or Terraform"
            elif kind == "terraform":
                before, berr = tf_parsed[bpath]
                after, aerr = tf_parsed[apath]
            else:
                before, berr = parse_yaml(bpath)
                after, aerr = parse_yaml(apath)
            c = dict(images=0, covered=0, moved=0, misses=0, wrong=0)
            problems = []
            parse = "n/a"
            if before is not None:
                self.totals["parsed_before"] += 1
                parse = "ok"
                if after is None:
                    parse = "BROKEN"
                    self.broken.append(rel)
                    problems.append(f"FAIL: no longer parses: {aerr[:300]}")
                else:
                    self.totals["parsed_after"] += 1
                    c, tree_problems, pairs = self.judge_tree(kind, before, after)
                    problems += tree_problems
            if before is None or after is None:
                pairs = []
            touched = untouched_problems(braw, araw, pairs) if parse != "BROKEN" else []
            if touched:
                self.totals["untouched"] += 1
                problems += [f"untouched: {t}" for t in touched]
            for k in c:
                self.totals[k] += c[k]
            self.lines.append(f"{rel}: {kind}, parse {parse}, images {c['images']}, covered {c['covered']}, "
                              f"moved {c['moved']}, misses {c['misses']}, wrong {c['wrong']}, "
                              f"bytes {'ok' if not touched else 'CHANGED'}")
            shown = problems if self.max_details < 0 else problems[: self.max_details]
            self.lines += ["    " + p for p in shown]
            if len(shown) < len(problems):
                self.lines.append(f"    ... and {len(problems) - len(shown)} more")
        for rel in extra:
            self.lines.append(f"{rel}: FAIL: not in {before_dir}, yet in {after_dir}")
            self.totals["wrong"] += 1
        return self.report()

    def report(self):
        t = self.totals
        print("\n".join(self.lines))
        print(f"files {t['files']}, parsed before {t['parsed_before']}, parsed after {t['parsed_after']}"
              f" ({len(self.broken)} broken)")
        print(f"images at known places {t['images']}, covered by a rule {t['covered']}, moved {t['moved']},"
              f" misses {t['misses']}, wrong {t['wrong']}, files with bytes changed outside moved values {t['untouched']}")
        verdicts = [("parse", len(self.broken)), ("misses", t["misses"]), ("wrong", t["wrong"]),
                    ("untouched", t["untouched"])]
        for key, n in verdicts:
            print(f"verdict {key} {'ok' if n == 0 else 'FAIL'} ({n})")
        if self.broken:
            print("broken or missing after: " + " ".join(self.broken))
        return 0 if all(n == 0 for _, n in verdicts) else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-details", type=int, default=-1, help="problems shown per file (-1: all)")
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("rules", nargs="+", metavar="OLD=NEW")
    args = ap.parse_args()
    return Judge(parse_rules(args.rules), args.max_details).run(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
