#!/usr/bin/env bash
# Fetch the JavaScript the website needs from npm into book/_vendor/_static/vendor/, so that no page
# loads anything from a CDN. MathJax 3 typesets the math (`mathjax_path` in _config.yml); plotly.js
# draws the figures, loaded once by every page (`html_js_files`) instead of inlined in each chapter,
# at the version the installed plotly package writes its figures for. The site
# shows widgets as static figures, so it loads no widget manager: myst-nb's default would fetch
# require.js and @jupyter-widgets/html-manager from a CDN, and require.js would also capture
# plotly.js as an AMD module (no `window.Plotly`), so `nb_ipywidgets_js` is empty.
# onnxruntime-web runs the live panel's model in the page (r1mini/viz/live.js): only its WASM
# build, `ort.wasm.min.js` with the SIMD `.wasm` and the `.mjs` that loads it, into vendor/ort/.
# Not under book/_static: Jupyter Book adds every .js file there to every page.
# Idempotent: does nothing when the pinned versions are already there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="$here/_vendor/_static/vendor"
python="${PYTHON:-python3}"
plotly="$("$python" -c 'from plotly.offline import get_plotlyjs_version as v; print(v())')"
packages=(mathjax@3.2.2 "plotly.js-dist-min@$plotly" onnxruntime-web@1.31.1)
if [[ -f "$dest/VERSIONS" && "$(cat "$dest/VERSIONS")" == "${packages[*]}" ]]; then
    exit 0
fi
command -v npm >/dev/null || { echo "vendor.sh: npm is needed (apt-get install -y npm)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
unpack() {  # unpack <npm spec> <folder>: `npm pack` the package and extract it into $tmp/<folder>
    local tarball
    tarball="$(cd "$tmp" && npm pack --silent "$1" | tail -n 1)"
    mkdir -p "$tmp/$2"
    tar -xzf "$tmp/$tarball" -C "$tmp/$2" --strip-components=1
}
unpack "${packages[0]}" mathjax
unpack "${packages[1]}" plotly
unpack "${packages[2]}" ort
rm -rf "$dest"
mkdir -p "$dest"
cp -r "$tmp/mathjax/es5" "$dest/mathjax"
cp "$tmp/plotly/plotly.min.js" "$dest/plotly.min.js"
mkdir -p "$dest/ort"
cp "$tmp/ort/dist/ort.wasm.min.js" "$tmp/ort/dist/ort-wasm-simd-threaded.mjs" \
    "$tmp/ort/dist/ort-wasm-simd-threaded.wasm" "$dest/ort/"
echo "${packages[*]}" > "$dest/VERSIONS"
echo "vendored into $dest: ${packages[*]}"
