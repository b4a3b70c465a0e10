# Remove a failed release's folder (never the one `current` points at, nor anything that is
# not a release).
# Arguments: ROOT RELEASE_ID
set -eu
export LC_ALL=C
d='[0-9]' h='[0-9a-f]'  # a release id, as edgesign.deploy.release_ids.RELEASE_ID_GLOB
RELEASE_ID="$d$d$d$d$d$d$d${d}T$d$d$d$d$d$d$d$d${d}Z-$h$h$h$h$h$h$h$h$h$h"
root=$1
id=$2
case $root in /*) ;; *) root=$HOME/$root ;; esac
# shellcheck disable=SC2254
case $id in $RELEASE_ID) ;; *) echo "not a release id: $id" >&2; exit 2 ;; esac
if [ -L "$root/current" ] && [ "$(basename "$(readlink "$root/current")")" = "$id" ]; then
    exit 0
fi
if [ -d "$root/releases/$id" ] && [ ! -L "$root/releases/$id" ]; then
    rm -rf "$root/releases/$id"
fi
