# Check the systemd unit (text in $1), then install, enable and restart it; check it stays active.
# Arguments: UNIT_TEXT [MODE] [THRESHOLD]. MODE `check`: only the checks, nothing installed (deploy
# runs this before switching `current`, with the unit pointed at the new release); `install`
# (the default): checks, then install. THRESHOLD: highest `systemd-analyze security` exposure
# accepted, on systemd's 0-100 scale (default 60, printed as 6.0). Prints security=<exposure>
# when systemd can rate a unit file offline.
# Exit 30: unit rejected by systemd-analyze verify, 31: not active after start,
# 32: exposure above THRESHOLD.
set -eu
unit=$1
mode=${2:-install}
threshold=${3:-60}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%s\n' "$unit" > "$tmp/edgesign.service"
if command -v systemd-analyze >/dev/null 2>&1; then
    systemd-analyze verify "$tmp/edgesign.service" || exit 30
    # --offline rates a unit file that is not installed (systemd 250 and later).
    if systemd-analyze --help 2>/dev/null | grep -q -- '--offline'; then
        rating=$(systemd-analyze security --offline=yes --no-pager "$tmp/edgesign.service" 2>&1) ||
            true
        level=$(printf '%s\n' "$rating" |
            sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
        echo "security=${level:-unknown}"
        if ! systemd-analyze security --offline=yes --no-pager --threshold="$threshold" \
                "$tmp/edgesign.service" >/dev/null 2>&1; then
            printf '%s\n' "$rating" | grep -F -e '✗' | head -n 8 || true
            echo "systemd-analyze security rates the unit ${level:-unknown}," \
                "above $threshold/10" >&2
            exit 32
        fi
    fi
fi
[ "$mode" = install ] || exit 0
sudo -n install -m 644 "$tmp/edgesign.service" /etc/systemd/system/edgesign.service
sudo -n systemctl daemon-reload
sudo -n systemctl enable --quiet edgesign.service
sudo -n systemctl restart edgesign.service
sleep 3
if ! systemctl is-active --quiet edgesign.service; then
    systemctl status --no-pager --lines=15 edgesign.service || true
    exit 31
fi
echo "service=active"
