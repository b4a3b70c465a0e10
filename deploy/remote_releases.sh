# List releases (newest first) as `release=ID complete=yes|no` and the current one as `current=ID`.
# Arguments: ROOT
set -eu
root=$1
case $root in /*) ;; *) root=$HOME/$root ;; esac
if [ -L "$root/current" ]; then echo "current=$(basename "$(readlink "$root/current")")"; else echo "current="; fi
[ -d "$root/releases" ] || exit 0
for dir in $(ls -1 "$root/releases" | sort -r); do
    if [ -f "$root/releases/$dir/release.json" ]; then c=yes; else c=no; fi
    echo "release=$dir complete=$c"
done
