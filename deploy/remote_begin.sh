# Make room for a new release: its folder and the shared wheel folder.
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
mkdir -p "$root/releases" "$root/wheelhouse"
if [ -e "$root/releases/$id" ] || [ -L "$root/releases/$id" ]; then
    echo "release $id already exists on this Pi" >&2
    exit 1
fi
mkdir "$root/releases/$id"
