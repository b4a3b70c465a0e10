# Build a release's venv from the uploaded wheels, self-test the bundle, then mark it complete.
# Arguments: ROOT RELEASE_ID PYTHON RELEASE_JSON TOLERANCE [PROFILE]. Exit 10: venv, 11: pip,
# 12: self-test (or the service's --profile does not fit the bundle).
set -u
root=$1
id=$2
py=$3
info=$4
tolerance=$5
profile=${6:-}
case $root in /*) ;; *) root=$HOME/$root ;; esac
cd "$root/releases/$id" || exit 1
step() { echo "== $*"; }

step "venv ($py -m venv --system-site-packages)"
"$py" -m venv --system-site-packages venv || exit 10

step "pip install (offline, from the uploaded wheels)"
wheel=$(ls wheels/edgesign-*.whl)
venv/bin/python -m pip install --no-index --find-links "$root/wheelhouse" --find-links wheels \
    --constraint wheels/constraints.txt --disable-pip-version-check --no-warn-script-location \
    --no-cache-dir "$wheel[device]" || exit 11

step "selftest"
venv/bin/edgesign selftest --bundle bundle --tolerance "$tolerance" ${profile:+--profile "$profile"} \
    || exit 12

printf '%s\n' "$info" > release.json.tmp && mv release.json.tmp release.json
step "ready"
