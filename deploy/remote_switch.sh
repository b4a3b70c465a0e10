# Point `current` at a complete release atomically (rename of a fresh link), then prune to KEEP.
# Arguments: ROOT RELEASE_ID KEEP (KEEP=0 keeps every release). Prints current=ID, then
# pruned=ID for each release removed (prune_failed=ID if one could not be removed).
# Only folders named like a release id are releases: nothing else is ever removed.
set -eu
export LC_ALL=C
d='[0-9]' h='[0-9a-f]'  # a release id, as edgesign.deploy.release_ids.RELEASE_ID_GLOB
RELEASE_ID="$d$d$d$d$d$d$d${d}T$d$d$d$d$d$d$d$d${d}Z-$h$h$h$h$h$h$h$h$h$h"
root=$1
id=$2
keep=$3
case $root in /*) ;; *) root=$HOME/$root ;; esac
# shellcheck disable=SC2254
case $id in $RELEASE_ID) ;; *) echo "not a release id: $id" >&2; exit 2 ;; esac
case $keep in ''|*[!0-9]*) echo "KEEP must be a number: $keep" >&2; exit 2 ;; esac
cd "$root"
if [ -L "releases/$id" ] || [ ! -f "releases/$id/release.json" ]; then
    echo "release $id is not complete (no release.json); current left as it was" >&2
    exit 20
fi
ln -sfn "releases/$id" .current.new
mv -T .current.new current
echo "current=$id"

[ "$keep" -gt 0 ] || exit 0
# Keep KEEP releases in all: current plus the newest complete others (ids start with a UTC
# timestamp, so names sort by time). Incomplete ones are leftovers of failed deploys.
newest_first=
for path in releases/*; do
    dir=${path#releases/}
    # shellcheck disable=SC2254
    case $dir in $RELEASE_ID) ;; *) continue ;; esac
    [ -d "$path" ] && [ ! -L "$path" ] || continue
    newest_first="$dir $newest_first"  # ids hold no spaces; the glob sorted them oldest first
done
n=1
for dir in $newest_first; do
    [ "$dir" = "$id" ] && continue
    if [ -f "releases/$dir/release.json" ] && [ "$n" -lt "$keep" ]; then
        n=$((n + 1))
        continue
    fi
    rm -rf "releases/$dir" || true
    if [ -e "releases/$dir" ]; then echo "prune_failed=$dir"; else echo "pruned=$dir"; fi
done
