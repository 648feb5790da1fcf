#!/usr/bin/env bash
# Builds the seed corpus of the `validate` target from testdata/ and examples/.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/validate
find ../testdata ../examples -name '*.yaml' -o -name '*.yml' | while read -r f; do
  cp "$f" "corpus/validate/$(echo "$f" | sha1sum | cut -c1-16)"
done
echo "$(ls corpus/validate | wc -l) seeds in fuzz/corpus/validate"
