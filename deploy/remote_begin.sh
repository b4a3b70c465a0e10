# Make room for a new release: its folder and the shared wheel folder.
# Arguments: ROOT RELEASE_ID
set -eu
root=$1
id=$2
case $root in /*) ;; *) root=$HOME/$root ;; esac
mkdir -p "$root/releases" "$root/wheelhouse"
if [ -e "$root/releases/$id" ]; then
    echo "release $id already exists on this Pi" >&2
    exit 1
fi
mkdir "$root/releases/$id"
