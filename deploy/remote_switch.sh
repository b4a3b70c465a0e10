# Point `current` at a complete release atomically (rename of a fresh link), then prune to KEEP.
# Arguments: ROOT RELEASE_ID KEEP (KEEP=0 keeps every release)
set -eu
root=$1
id=$2
keep=$3
case $root in /*) ;; *) root=$HOME/$root ;; esac
cd "$root"
if [ ! -f "releases/$id/release.json" ]; then
    echo "release $id is not complete (no release.json); current left as it was" >&2
    exit 20
fi
ln -sfn "releases/$id" .current.new
mv -T .current.new current
echo "current=$id"

[ "$keep" -gt 0 ] || exit 0
# Keep KEEP releases in all: current plus the newest complete others (ids start with a UTC
# timestamp, so names sort by time). Incomplete ones are leftovers of failed deploys.
n=1
for dir in $(ls -1 releases | sort -r); do
    [ "$dir" = "$id" ] && continue
    if [ -f "releases/$dir/release.json" ] && [ "$n" -lt "$keep" ]; then
        n=$((n + 1))
        continue
    fi
    rm -rf "releases/$dir" && echo "pruned=$dir"
done
