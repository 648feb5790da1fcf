#!/usr/bin/env bash
# Builds the seed corpora: `validate` from testdata/ and examples/, `template`
# from the policy templates and the hostile ones of tests/bombs.rs, `tree`
# from a few trees with links and FIFOs.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/validate corpus/template corpus/tree
find ../testdata ../examples -name '*.yaml' -o -name '*.yml' | while read -r f; do
  cp "$f" "corpus/validate/$(echo "$f" | sha1sum | cut -c1-16)"
done
printf 'label [[ params.p ]] required\0team' > corpus/template/plain
printf '[%% for a in range(3) %%][[ a ]][%% endfor %%]\0[1,2]' > corpus/template/loop
printf "[[ 'x' * 1000 ]]\0x" > corpus/template/repeat
printf '[[ params.p | upper ]]\0{"a": 1}' > corpus/template/filter
printf 'f orgs/acme/a.yaml kind: Team\nl orgs/acme/b.yaml OUT\nl c.yaml /etc/passwd\np orgs/acme/pipe.yaml\n' > corpus/tree/links
printf 'd sub\nl sub/loop ..\nl orgs/acme/up.yaml ../../platform.yaml\n' > corpus/tree/loop
printf 'f rendered/x.yaml kind: [\nf out/.kradle-output x\nf out/y.yaml kind: [\n' > corpus/tree/output
for t in validate template tree; do echo "$(ls corpus/$t | wc -l) seeds in fuzz/corpus/$t"; done
