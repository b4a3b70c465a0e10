# The releases folder on the Pi: ROOT/releases/<id>/ and the link ROOT/current.
# Arguments: ACTION ROOT [RELEASE_ID [KEEP]]; ROOT is relative to the home folder or absolute.
#   list                list releases (newest first) as `release=ID complete=yes|no` and the
#                       current one as `current=ID`
#   begin ID            make room for a new release: its folder and the shared wheel folder
#   discard ID          remove a failed release's folder (never the one `current` points at)
#   switch ID KEEP      point `current` at a complete release atomically (rename of a fresh link),
#                       then prune to KEEP (0 keeps every release); prints current=ID, then
#                       pruned=ID for each release removed (prune_failed=ID if one could not be)
# Only folders named like a release id are releases: anything else under releases/ (a user's
# `junk`, a name with spaces, a symlink) is never listed, switched to or removed.
set -eu
export LC_ALL=C
d='[0-9]' h='[0-9a-f]'  # a release id, as edgesign.deploy.release_ids.RELEASE_ID_GLOB
RELEASE_ID="$d$d$d$d$d$d$d${d}T$d$d$d$d$d$d$d$d${d}Z-$h$h$h$h$h$h$h$h$h$h"
action=$1
root=$2
case $root in /*) ;; *) root=$HOME/$root ;; esac
if [ "$action" != list ]; then
    id=$3
    # shellcheck disable=SC2254
    case $id in $RELEASE_ID) ;; *) echo "not a release id: $id" >&2; exit 2 ;; esac
fi

# The release folders' names, newest first (ids start with a UTC timestamp, so the glob sorts
# them oldest first, and they hold no spaces).
releases_newest_first() {
    newest_first=
    for path in "$root"/releases/*; do
        dir=${path##*/}
        # shellcheck disable=SC2254
        case $dir in $RELEASE_ID) ;; *) continue ;; esac
        [ -d "$path" ] && [ ! -L "$path" ] || continue
        newest_first="$dir $newest_first"
    done
    echo "$newest_first"
}

current() {
    if [ -L "$root/current" ]; then basename "$(readlink "$root/current")"; fi
}

case $action in
list)
    echo "current=$(current)"
    [ -d "$root/releases" ] || exit 0
    for dir in $(releases_newest_first); do
        if [ -f "$root/releases/$dir/release.json" ]; then c=yes; else c=no; fi
        echo "release=$dir complete=$c"
    done
    ;;
begin)
    mkdir -p "$root/releases" "$root/wheelhouse"
    if [ -e "$root/releases/$id" ] || [ -L "$root/releases/$id" ]; then
        echo "release $id already exists on this Pi" >&2
        exit 1
    fi
    mkdir "$root/releases/$id"
    ;;
discard)
    [ "$(current)" != "$id" ] || exit 0
    if [ -d "$root/releases/$id" ] && [ ! -L "$root/releases/$id" ]; then
        rm -rf "$root/releases/$id"
    fi
    ;;
switch)
    keep=$4
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
    # Keep KEEP releases in all: current plus the newest complete others. Incomplete ones are
    # leftovers of failed deploys.
    n=1
    for dir in $(releases_newest_first); do
        [ "$dir" = "$id" ] && continue
        if [ -f "releases/$dir/release.json" ] && [ "$n" -lt "$keep" ]; then
            n=$((n + 1))
            continue
        fi
        rm -rf "releases/$dir" || true
        if [ -e "releases/$dir" ]; then echo "prune_failed=$dir"; else echo "pruned=$dir"; fi
    done
    ;;
*)
    echo "unknown action: $action" >&2
    exit 2
    ;;
esac
