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

# pip runs from its wheel in the wheelhouse (pip supports `python pip-*.whl/pip`), so the venv is
# made without copying pip into it (ensurepip's install took 3.5 s of the 7 here, far more on a
# Pi); a wheelhouse without exactly one pip wheel (a --wheelhouse DIR of your own) gets the
# venv's own pip as before.
pip_wheel=$(ls "$root/wheelhouse"/pip-*-py3-none-any.whl 2>/dev/null)
case $pip_wheel in *"
"*) pip_wheel= ;; esac
if [ -n "$pip_wheel" ]; then
    step "venv ($py -m venv --system-site-packages --without-pip)"
    "$py" -m venv --system-site-packages --without-pip venv || exit 10
else
    step "venv ($py -m venv --system-site-packages)"
    "$py" -m venv --system-site-packages venv || exit 10
fi
pip() {
    if [ -n "$pip_wheel" ]; then venv/bin/python "$pip_wheel/pip" "$@"; else venv/bin/python -m pip "$@"; fi
}

# --no-compile: modules are compiled when first imported (the self-test below does it for what
# the device runs), not all of numpy's and Pillow's at install.
step "pip install (offline, from the uploaded wheels)"
wheel=$(ls wheels/edgesign-*.whl)
pip install --no-index --find-links "$root/wheelhouse" --find-links wheels \
    --constraint wheels/constraints.txt --disable-pip-version-check --no-warn-script-location \
    --no-cache-dir --no-compile "$wheel[device]" || exit 11

step "selftest"
venv/bin/edgesign selftest --bundle bundle --tolerance "$tolerance" ${profile:+--profile "$profile"} \
    || exit 12

printf '%s\n' "$info" > release.json.tmp && mv release.json.tmp release.json
step "ready"
