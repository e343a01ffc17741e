#!/usr/bin/env bash
# Build the r1mini website into OUT/_build/html (OUT defaults to book/): vendor the JavaScript from
# npm (vendor.sh: MathJax, plotly.js, onnxruntime-web), export the live panel's checkpoints to
# ONNX beside its tokenizer and script (`python -m r1mini.viz.live`, into _static/live/), stage
# book/ + notebooks/ + assets/ in one source folder, execute every chapter (a failing cell or any
# Sphinx warning fails the build), then check the site loads no script from the network. Installs
# nothing: `pip install -e ".[book,onnx]"` provides the Python side.
# EXECUTED=DIR takes the chapters from DIR already executed (the tests run each chapter once and
# build from those runs) instead of executing them again.
#   PYTHON=.venv/bin/python book/build.sh [OUT]
set -euo pipefail
book="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$book")"
out="$(mkdir -p "${1:-$book}" && cd "${1:-$book}" && pwd)"
python="${PYTHON:-python3}"

PYTHON="$python" "$book/vendor.sh"
"$python" -m r1mini.viz.live "$book/_vendor/_static/live"   # build outputs: _vendor/ is not committed
export R1MINI_SITE=1   # chapters executed here compute their views' states for the site (r1mini.viz.site)
src="$(mktemp -d)"
trap 'rm -rf "$src"' EXIT
cp -r "$book/_config.yml" "$book/_toc.yml" "$book"/*.md "$book/_vendor" "$src/"   # pages: intro, teaching, glossary
mkdir -p "$src/notebooks"
if [[ -n "${EXECUTED:-}" ]]; then
    for nb in "$root"/notebooks/*.ipynb; do   # every chapter, each one executed
        cp "$EXECUTED/$(basename "$nb")" "$src/notebooks/"
    done
    sed -i 's/execute_notebooks: force/execute_notebooks: "off"/' "$src/_config.yml"
    grep -q 'execute_notebooks: "off"' "$src/_config.yml"   # fails the build if the switch moved
else
    cp "$root"/notebooks/*.ipynb "$src/notebooks/"
fi
ln -s "$root/assets" "$src/assets"   # chapters show ../assets/*.svg, as they do in Jupyter

rm -rf "$out/_build/html"
"$python" -c 'from jupyter_book.cli.main import main; main()' \
    build "$src" --path-output "$out" --warningiserror --keep-going

html="$out/_build/html"
remote="$(grep -rlE '<script[^>]+src="(https?:)?//' --include='*.html' "$html" || true)"
if [[ -n "$remote" ]]; then
    echo "build.sh: these pages load a script from the network (the site must work offline):" >&2
    echo "$remote" >&2
    exit 1
fi
largest="$(find "$html" -name '*.html' -printf '%s %P\n' | sort -n | tail -n 1)"
echo "built $html: $(du -sh "$html" | cut -f1) in all; largest page ${largest#* }," \
    "$(numfmt --to=iec "${largest%% *}")"
