# List releases (newest first) as `release=ID complete=yes|no` and the current one as `current=ID`.
# Only folders named like a release id count; anything else under releases/ is ignored.
# Arguments: ROOT
set -eu
export LC_ALL=C
d='[0-9]' h='[0-9a-f]'  # a release id, as edgesign.deploy.release_ids.RELEASE_ID_GLOB
RELEASE_ID="$d$d$d$d$d$d$d${d}T$d$d$d$d$d$d$d$d${d}Z-$h$h$h$h$h$h$h$h$h$h"
root=$1
case $root in /*) ;; *) root=$HOME/$root ;; esac
if [ -L "$root/current" ]; then echo "current=$(basename "$(readlink "$root/current")")"; else echo "current="; fi
[ -d "$root/releases" ] || exit 0
newest_first=
for path in "$root"/releases/*; do
    dir=${path##*/}
    # shellcheck disable=SC2254
    case $dir in $RELEASE_ID) ;; *) continue ;; esac
    [ -d "$path" ] && [ ! -L "$path" ] || continue
    newest_first="$dir $newest_first"  # ids hold no spaces; the glob sorted them oldest first
done
for dir in $newest_first; do
    if [ -f "$root/releases/$dir/release.json" ]; then c=yes; else c=no; fi
    echo "release=$dir complete=$c"
done
