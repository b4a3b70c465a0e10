# Remove a failed release's folder (never the one `current` points at).
# Arguments: ROOT RELEASE_ID
set -eu
root=$1
id=$2
case $root in /*) ;; *) root=$HOME/$root ;; esac
if [ -L "$root/current" ] && [ "$(basename "$(readlink "$root/current")")" = "$id" ]; then
    exit 0
fi
rm -rf "$root/releases/$id"
