#!/usr/bin/env python3
"""Copies the upstream test oracles kradle's tests read from ../shared/upstream
into testdata/upstream, trimmed to what the tests read, and writes SOURCES.json:
for each file, where it comes from, its license, and the SHA-256 of the
upstream file and of the copy.

Run from the repository root:  python3 testdata/upstream/trim.py [UPSTREAM]
(UPSTREAM defaults to ../shared/upstream). Deterministic: the same upstream
gives the same bytes. `tests/upstream_copies.rs` checks the copies against
../shared/upstream when it exists.
"""
import hashlib
import json
import os
import re
import shutil
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
UPSTREAM = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "../../../shared/upstream"))

# Files copied byte for byte: (path, license).
VERBATIM = [
    ("crd-schemas/kyverno.io/policy_v1.json", "Apache-2.0 (Kyverno) / MIT (datreeio/CRDs-catalog)"),
    ("crd-schemas/kyverno.io/clusterpolicy_v1.json", "Apache-2.0 (Kyverno) / MIT (datreeio/CRDs-catalog)"),
    ("crd-schemas/kyverno.io/policyexception_v2.json", "Apache-2.0 (Kyverno) / MIT (datreeio/CRDs-catalog)"),
    ("crd-schemas/argoproj.io/application_v1alpha1.json", "Apache-2.0 (Argo CD) / MIT (datreeio/CRDs-catalog)"),
    ("crd-schemas/argoproj.io/appproject_v1alpha1.json", "Apache-2.0 (Argo CD) / MIT (datreeio/CRDs-catalog)"),
    ("crd-schemas/serving.kserve.io/inferenceservice_v1beta1.json", "Apache-2.0 (KServe) / MIT (datreeio/CRDs-catalog)"),
    ("crd-schemas/serving.kserve.io/servingruntime_v1alpha1.json", "Apache-2.0 (KServe) / MIT (datreeio/CRDs-catalog)"),
    ("crd-schemas/core.oam.dev/application_v1beta1.json", "Apache-2.0 (KubeVela)"),
    ("k8s-schemas/v1.37.0-local-strict/_definitions.json", "Apache-2.0 (Kubernetes, via kubernetes-validate)"),
]
VERBATIM_DIRS = [
    ("k8s-schemas/v1.37.0-standalone-strict", "Apache-2.0 (Kubernetes, via kubernetes-validate)"),
    ("github/webhook-examples", "MIT (@octokit/webhooks-examples)"),
]
# Recorded exchanges with api.github.com that touch endpoints kradle uses.
FIXTURES = [
    "add-and-remove-repository-collaborator",
    "branch-protection",
    "errors",
    "get-organization",
    "get-repository",
    "labels",
    "add-labels-to-issue",
    "paginate-issues",
    "create-status",
    "rename-repository",
]
LICENSES = ["LICENSES"]

# The API descriptions, trimmed to the paths kradle, its fakes and its
# tests use (and every component those reach).
GITHUB_PATHS = [
    r"/app",
    r"/app/installations(/.*)?",
    r"/orgs/\{org\}",
    r"/orgs/\{org\}/(repos|hooks|hooks/\{hook_id\}|teams|members|members/\{username\}|memberships/\{username\}|invitations)",
    r"/orgs/\{org\}/teams/\{team_slug\}(/(members|memberships/\{username\}|repos|repos/\{owner\}/\{repo\}|invitations))?",
    r"/repos/\{owner\}/\{repo\}",
    r"/repos/\{owner\}/\{repo\}/(collaborators|collaborators/\{username\}|collaborators/\{username\}/permission)",
    r"/repos/\{owner\}/\{repo\}/(invitations|invitations/\{invitation_id\})",
    r"/repos/\{owner\}/\{repo\}/(keys|keys/\{key_id\})",
    r"/repos/\{owner\}/\{repo\}/(hooks|hooks/\{hook_id\})",
    r"/repos/\{owner\}/\{repo\}/branches(/\{branch\}(/protection(/.*)?)?)?",
    r"/repos/\{owner\}/\{repo\}/issues(/\{issue_number\}(/(comments|labels|labels/\{name\}|assignees|lock))?)?",
    r"/repos/\{owner\}/\{repo\}/issues/comments(/\{comment_id\})?",
    r"/repos/\{owner\}/\{repo\}/pulls(/\{pull_number\}(/(reviews|comments))?)?",
    r"/repos/\{owner\}/\{repo\}/labels(/\{name\})?",
    r"/repos/\{owner\}/\{repo\}/statuses/\{sha\}",
    r"/repos/\{owner\}/\{repo\}/commits/\{ref\}/(status|statuses|check-runs)",
    r"/repos/\{owner\}/\{repo\}/check-runs(/\{check_run_id\})?",
    r"/repos/\{owner\}/\{repo\}/actions/runs(/\{run_id\}(/jobs)?)?",
    r"/repos/\{owner\}/\{repo\}/actions/jobs/\{job_id\}",
    r"/repos/\{owner\}/\{repo\}/git/refs(/.*)?",
    r"/repos/\{owner\}/\{repo\}/git/ref/\{ref\}",
    r"/users/\{username\}(/keys)?",
    r"/user",
    r"/user/repository_invitations(/\{invitation_id\})?",
]
GITEA_PATHS = [
    r"/orgs",
    r"/orgs/\{org\}(/(repos|teams|hooks|hooks/\{id\}|members|members/\{username\}|labels))?",
    r"/teams/\{id\}(/(members|members/\{username\}|repos|repos/\{org\}/\{repo\}))?",
    r"/repos/\{owner\}/\{repo\}",
    r"/repos/\{owner\}/\{repo\}/(collaborators|collaborators/\{collaborator\}|collaborators/\{collaborator\}/permission)",
    r"/repos/\{owner\}/\{repo\}/(keys|keys/\{id\}|hooks|hooks/\{id\})",
    r"/repos/\{owner\}/\{repo\}/(branch_protections|branch_protections/\{name\})",
    r"/repos/\{owner\}/\{repo\}/issues(/\{index\}(/(comments|labels|labels/\{id\}))?)?",
    r"/repos/\{owner\}/\{repo\}/issues/comments/\{id\}",
    r"/repos/\{owner\}/\{repo\}/pulls(/\{index\}(/reviews)?)?",
    r"/repos/\{owner\}/\{repo\}/labels(/\{id\})?",
    r"/repos/\{owner\}/\{repo\}/statuses/\{sha\}",
    r"/repos/\{owner\}/\{repo\}/actions/(runs|tasks|jobs)(/.*)?",
    r"/users/\{username\}(/keys)?",
    r"/admin/users/\{username\}/keys(/\{id\})?",
    r"/user",
    r"/version",
]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def refs(value, out):
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/"):
                out.add(v)
            else:
                refs(v, out)
    elif isinstance(value, list):
        for v in value:
            refs(v, out)


def pointer(doc, ref):
    node = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def set_pointer(doc, src, ref):
    parts = ref[2:].split("/")
    node, source = doc, src
    for part in parts[:-1]:
        source = source[part]
        node = node.setdefault(part, {})
    node[parts[-1]] = source[parts[-1]]


def trim_api(spec, patterns):
    keep = [re.compile("^" + p + "$") for p in patterns]
    out = {k: v for k, v in spec.items() if k not in ("paths", "components", "definitions", "responses", "parameters")}
    out["paths"] = {p: v for p, v in spec["paths"].items() if any(r.match(p) for r in keep)}
    # Every component the kept paths reach, transitively.
    seen, todo = set(), set()
    refs(out["paths"], todo)
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        refs(pointer(spec, ref), todo)
    for ref in sorted(seen):
        set_pointer(out, spec, ref)
    # Security definitions and the like the paths name by key.
    for k in ("securityDefinitions", "security"):
        if k in spec:
            out[k] = spec[k]
    return out


def main():
    sources = []
    def record(rel, upstream_bytes, copy_bytes, license, how):
        sources.append({
            "path": rel,
            "license": license,
            "how": how,
            "upstreamSha256": sha256(upstream_bytes),
            "sha256": sha256(copy_bytes),
        })

    def copy(rel, license):
        src = os.path.join(UPSTREAM, rel)
        dst = os.path.join(ROOT, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)
        data = open(src, "rb").read()
        record(rel, data, data, license, "verbatim")

    for rel, license in VERBATIM:
        copy(rel, license)
    for d, license in VERBATIM_DIRS:
        for name in sorted(os.listdir(os.path.join(UPSTREAM, d))):
            copy(f"{d}/{name}", license)
    for scenario in FIXTURES:
        d = f"github/octokit-fixtures/{scenario}"
        for name in sorted(os.listdir(os.path.join(UPSTREAM, d))):
            if name == "normalized-fixture.json":
                copy(f"{d}/{name}", "MIT (@octokit/fixtures)")
    for d in LICENSES:
        for name in sorted(os.listdir(os.path.join(UPSTREAM, d))):
            copy(f"{d}/{name}", "license text")

    for rel, patterns, license in [
        ("github/api.github.com.json", GITHUB_PATHS, "MIT (@octokit/openapi)"),
        ("gitea/swagger.v1.json", GITEA_PATHS, "MIT (Gitea)"),
    ]:
        data = open(os.path.join(UPSTREAM, rel), "rb").read()
        trimmed = trim_api(json.loads(data), patterns)
        text = (json.dumps(trimmed, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()
        dst = os.path.join(ROOT, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        open(dst, "wb").write(text)
        record(rel, data, text, license, "trimmed: the paths kradle uses and the components they reach")

    sources.sort(key=lambda s: s["path"])
    with open(os.path.join(ROOT, "SOURCES.json"), "w") as f:
        json.dump({"upstream": "../shared/upstream (see its README for where each file comes from)", "files": sources}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
